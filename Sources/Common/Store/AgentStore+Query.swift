import CSQLite
import Foundation

/// One field of the framework's agent objects and the column it reads (LOCAL-DAPI-CONTROL.md §6).
public struct AgentField: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The agent id: an integer shown zero-padded to 3 digits.
        case id
        case text
        case integer
        /// An epoch column shown as `{"__wazuh_datetime__": ...}`.
        case date
        /// The disconnection time: a date, shown only when non-zero.
        case dateNonZero
        /// The `group` CSV, shown as a list; `=`/`!=` test membership.
        case groups
    }

    /// The API name (`os.name`, `lastKeepAlive`, …).
    public let name: String
    /// The SQL expression (a column, or `coalesce(ip, register_ip)`).
    let sql: String
    public let kind: Kind
    /// The key inside the nested `os` object, for `os.*` fields.
    let osKey: String?
    /// `"name": ` and `"<osKey>": ` as JSON text, written before each value.
    let keyJSON: [UInt8]
    let osKeyJSON: [UInt8]

    init(_ name: String, _ sql: String, _ kind: Kind = .text) {
        self.name = name
        self.sql = sql
        self.kind = kind
        let osKey = name.hasPrefix("os.") ? String(name.dropFirst(3)) : nil
        self.osKey = osKey
        keyJSON = Array("\"\(name)\": ".utf8)
        osKeyJSON = Array("\"\(osKey ?? "")\": ".utf8)
    }

    /// Every field, in the order agent objects are written.
    public static let all: [AgentField] = [
        AgentField("id", "id", .id),
        AgentField("name", "name"),
        AgentField("ip", "coalesce(ip, register_ip)"),
        AgentField("registerIP", "register_ip"),
        AgentField("status", "connection_status"),
        AgentField("os.arch", "os_arch"),
        AgentField("os.build", "os_build"),
        AgentField("os.codename", "os_codename"),
        AgentField("os.major", "os_major"),
        AgentField("os.minor", "os_minor"),
        AgentField("os.name", "os_name"),
        AgentField("os.platform", "os_platform"),
        AgentField("os.uname", "os_uname"),
        AgentField("os.version", "os_version"),
        AgentField("version", "version"),
        AgentField("configSum", "config_sum"),
        AgentField("mergedSum", "merged_sum"),
        AgentField("manager", "manager_host"),
        AgentField("node_name", "node_name"),
        AgentField("dateAdd", "date_add", .date),
        AgentField("lastKeepAlive", "last_keepalive", .date),
        AgentField("group", "`group`", .groups),
        AgentField("disconnection_time", "disconnection_time", .dateNonZero),
        AgentField("group_config_status", "group_config_status"),
        AgentField("status_code", "status_code", .integer),
    ]

    static let byName: [String: AgentField] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public static func named(_ name: String) -> AgentField? { byName[name] }

    public static var names: [String] { all.map(\.name) }

    /// The SQL a text comparison uses (`id` compares as its padded text).
    var textSQL: String { kind == .id ? "printf('%03d', id)" : sql }
}

/// The agents a framework call lists: which rows (ids, filters, `q`, search), which fields, in what order,
/// which page. `compile` checks everything and turns it into a parameterized statement.
public struct AgentQuery: Sendable {
    /// `agent_list`: only these ids.
    public var ids: [Int]?
    /// Legacy filters: field name -> accepted values (any of them). `all` is ignored.
    public var filters: [(field: String, values: [String])] = []
    /// `older_than` in seconds: agents whose last keep-alive (or, never connected, registration) is older.
    public var olderThan: Int?
    public var q: String?
    public var search: (value: String, negation: Bool)?
    /// Fields to return (nil: all). `os` selects every `os.*` field. `id` is always returned.
    public var select: [String]?
    /// Sort fields with their direction; nil sorts by id.
    public var sort: [(field: String, ascending: Bool)]?
    public var offset = 0
    /// nil: no limit.
    public var limit: Int?
    public var distinct = false
    /// Leave the manager (id 0) out.
    public var excludeManager = false

    public init() {}

    /// The framework's database limit.
    public static let maximumLimit = 100_000

    /// Resolves and validates the request. Bad fields, operators, values or paging are `WazuhError`s
    /// (1724 select, 1403 sort, 1405/1406/1400/1401 paging, 1407/1408/1409/1411/1412 query).
    public func compile(now: Int = Int(Date().timeIntervalSince1970)) throws(WazuhException) -> CompiledAgentQuery {
        guard offset >= 0 else { throw .error(1400, "offset \(offset) is negative") }
        if let limit {
            if limit == 0 { throw .error(1406) }
            if limit < 0 { throw .error(1401, "limit \(limit) is negative") }
            if limit > Self.maximumLimit { throw .error(1405, "\(limit) > \(Self.maximumLimit)") }
        }
        // Fields returned.
        var fields: [AgentField] = []
        if let select {
            var wanted: Set<String> = distinct ? [] : ["id"]
            for name in select {
                if name == "os" {
                    AgentField.all.filter { $0.name.hasPrefix("os.") }.forEach { wanted.insert($0.name) }
                } else if AgentField.named(name) != nil {
                    wanted.insert(name)
                } else {
                    throw .error(1724, "'\(name)' is not one of: \(AgentField.names.joined(separator: ", "))")
                }
            }
            fields = AgentField.all.filter { wanted.contains($0.name) }
        } else {
            fields = AgentField.all
        }
        // Rows.
        var conditions: [String] = []
        var values: [SQLValue] = []
        if excludeManager { conditions.append("id != 0") }
        if let ids {
            conditions.append("id IN (SELECT value FROM json_each(?))")
            values.append(.text("[" + ids.map(String.init).joined(separator: ",") + "]"))
        }
        for filter in filters {
            let accepted = filter.values.filter { $0 != "all" }
            if accepted.isEmpty { continue }
            guard let field = AgentField.named(filter.field) else {
                throw .error(1408, "filter '\(filter.field)' is not one of: \(AgentField.names.joined(separator: ", "))")
            }
            var alternatives: [String] = []
            for v in accepted {
                let (s, vs) = try Self.condition(field, .equal, v, now: now)
                alternatives.append("(\(s))")
                values += vs
            }
            conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
        }
        if let olderThan, olderThan > 0 {
            conditions.append("""
                ((connection_status != 'never_connected' AND last_keepalive IS NOT NULL AND last_keepalive < ?) \
                OR (connection_status = 'never_connected' AND date_add < ?))
                """)
            values += [.int(Int64(now - olderThan)), .int(Int64(now - olderThan))]
        }
        if let q, !q.isEmpty {
            let tree = try WazuhQuery.parse(q)
            let (s, vs) = try tree.sql { (name: String, op: WazuhQuery.Operator, value: String) throws(WazuhException) -> (String, [SQLValue]) in
                guard let field = AgentField.named(name) else {
                    throw .error(1408, "query '\(q)' names field '\(name)'; fields are \(AgentField.names.joined(separator: ", "))")
                }
                return try Self.condition(field, op, value, now: now)
            }
            conditions.append(s)
            values += vs
        }
        if let search, !search.value.isEmpty {
            let pattern = "%" + Self.escapeLike(search.value) + "%"
            let op = search.negation ? "NOT LIKE" : "LIKE"
            let parts = fields.map { "COALESCE(\($0.textSQL), '') \(op) ? ESCAPE '\\'" }
            conditions.append("(" + parts.joined(separator: search.negation ? " AND " : " OR ") + ")")
            values += Array(repeating: .text(pattern), count: parts.count)
        }
        // Order.
        var order: [String] = []
        if let sort {
            for s in sort {
                guard let field = AgentField.named(s.field) else {
                    throw .error(1403, "'\(s.field)' is not one of: \(AgentField.names.joined(separator: ", "))")
                }
                let direction = s.ascending ? "ASC" : "DESC"
                switch field.kind {
                case .text, .groups: order.append("\(field.sql) COLLATE NOCASE \(direction)")
                default: order.append("\(field.sql) \(direction)")
                }
            }
        }
        if !distinct && !(sort?.contains { $0.field == "id" } ?? false) { order.append("id ASC") }
        let whereSQL = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return CompiledAgentQuery(fields: fields, whereSQL: whereSQL, values: values, orderSQL: order.joined(separator: ", "),
                                  offset: offset, limit: limit, distinct: distinct)
    }

    static func escapeLike(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// `field op value` as SQL with its parameters.
    static func condition(_ field: AgentField, _ op: WazuhQuery.Operator, _ value: String, now: Int)
        throws(WazuhException) -> (String, [SQLValue])
    {
        if op == .like {
            return ("COALESCE(\(field.textSQL), '') LIKE ? ESCAPE '\\'", [.text("%" + escapeLike(value) + "%")])
        }
        let sqlOp: String
        switch op {
        case .equal: sqlOp = "="
        case .notEqual: sqlOp = "!="
        case .less: sqlOp = "<"
        case .greater: sqlOp = ">"
        case .like: sqlOp = "LIKE"
        }
        switch field.kind {
        case .id, .integer:
            guard let n = Int(value) else {
                throw .error(1407, "'\(field.name)' takes a number, not '\(value)'")
            }
            return ("\(field.sql) \(sqlOp) ?", [.int(Int64(n))])
        case .date, .dateNonZero:
            return try dateCondition(field, op, value, now: now)
        case .groups where op == .equal || op == .notEqual:
            let member = "id IN (SELECT b.id_agent FROM belongs b JOIN `group` g ON g.id = b.id_group WHERE g.name = ?)"
            return (op == .equal ? member : "NOT " + member, [.text(value)])
        case .text, .groups:
            if value.isEmpty {
                switch op {
                case .equal: return ("\(field.sql) IS NULL OR \(field.sql) = ''", [])
                case .notEqual: return ("\(field.sql) IS NOT NULL AND \(field.sql) != ''", [])
                default: break
                }
            }
            if op == .notEqual { return ("\(field.sql) IS NULL OR \(field.sql) != ?", [.text(value)]) }
            return ("\(field.sql) \(sqlOp) ?", [.text(value)])
        }
    }

    /// A date field against a timeframe (`30s`, `10m`, `2h`, `1d`, `1w`, plain seconds: an age, so
    /// `lastKeepAlive<1d` is "within the last day" and `>` "older than") or a date
    /// (`YYYY-MM-DD[ HH:MM:SS]`, `YYYY-MM-DDTHH:MM:SSZ`, compared as UTC instants).
    static func dateCondition(_ field: AgentField, _ op: WazuhQuery.Operator, _ value: String, now: Int)
        throws(WazuhException) -> (String, [SQLValue])
    {
        if let age = timeframeSeconds(value) {
            let sqlOp: String
            switch op {
            case .less, .equal: sqlOp = ">"
            case .greater: sqlOp = "<"
            case .notEqual: sqlOp = "<="
            case .like: sqlOp = ">"
            }
            return ("\(field.sql) IS NOT NULL AND \(field.sql) \(sqlOp) ?", [.int(Int64(now - age))])
        }
        guard let epoch = parseDate(value) else {
            throw .error(1412, "'\(value)' given for '\(field.name)'")
        }
        let sqlOp: String
        switch op {
        case .equal, .like: sqlOp = "="
        case .notEqual: sqlOp = "!="
        case .less: sqlOp = "<"
        case .greater: sqlOp = ">"
        }
        return ("\(field.sql) IS NOT NULL AND \(field.sql) \(sqlOp) ?", [.int(Int64(epoch))])
    }

    /// `[n]`, `[n]s`, `[n]m`, `[n]h`, `[n]d`, `[n]w` in seconds; nil for anything else.
    public static func timeframeSeconds(_ s: String) -> Int? {
        guard let last = s.last else { return nil }
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        let (digits, unit) = units[last] != nil ? (String(s.dropLast()), units[last]!) : (s, 1)
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else { return nil }
        return n * unit
    }

    /// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS[Z]` as a UTC epoch.
    static func parseDate(_ s: String) -> Int? {
        let b = Array(s.utf8)
        func num(_ r: Range<Int>) -> Int? {
            guard r.upperBound <= b.count else { return nil }
            var n = 0
            for i in r {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                n = n * 10 + Int(b[i] - 0x30)
            }
            return n
        }
        guard b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, sec = 0
        if b.count > 10 {
            var rest = b.count
            if b.last == UInt8(ascii: "Z") { rest -= 1 }
            guard rest == 19, b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
                  let hh = num(11..<13), let mm = num(14..<16), let ss = num(17..<19), hh < 24, mm < 60, ss < 61 else { return nil }
            (h, mi, sec) = (hh, mm, ss)
        }
        return WazuhDate.daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
    }
}

/// A checked agent query, ready to run.
public struct CompiledAgentQuery: Sendable {
    public let fields: [AgentField]
    let whereSQL: String
    let values: [SQLValue]
    let orderSQL: String
    public let offset: Int
    public let limit: Int?
    public let distinct: Bool
}

/// A page of agents and how many matched in all.
public struct AgentListing: Sendable, Equatable {
    public var items: [JSONValue]
    public var total: Int
}

/// Dates as the framework's JSON encoder writes them.
public enum WazuhDate {
    /// `{"__wazuh_datetime__": "YYYY-MM-DDTHH:MM:SS+00:00"}`.
    public static func json(epoch: Int) -> JSONValue {
        ["__wazuh_datetime__": .string(iso(epoch: epoch))]
    }

    /// `iso(epoch:)` appended to `out`, without temporaries (two dates per listed agent).
    static func write(epoch: Int, into out: inout [UInt8]) {
        let days = epoch >= 0 ? epoch / 86400 : -((-epoch + 86399) / 86400)
        let secs = epoch - days * 86400
        let (y, m, d) = civilFromDays(days)
        func two(_ n: Int) {
            out.append(UInt8(0x30 + n / 10 % 10))
            out.append(UInt8(0x30 + n % 10))
        }
        if y < 0 { out.append(UInt8(ascii: "-")) }
        let year = abs(y)
        two(year / 100)
        two(year % 100)
        out.append(UInt8(ascii: "-")); two(m)
        out.append(UInt8(ascii: "-")); two(d)
        out.append(UInt8(ascii: "T")); two(secs / 3600)
        out.append(UInt8(ascii: ":")); two(secs % 3600 / 60)
        out.append(UInt8(ascii: ":")); two(secs % 60)
        out.append(contentsOf: [0x2B, 0x30, 0x30, 0x3A, 0x30, 0x30])  // +00:00
    }

    public static func iso(epoch: Int) -> String {
        let days = epoch >= 0 ? epoch / 86400 : -((-epoch + 86399) / 86400)
        let secs = epoch - days * 86400
        let (y, m, d) = civilFromDays(days)
        // Written byte by byte: listings format two dates per agent.
        var out: [UInt8] = []
        out.reserveCapacity(26)
        func digits(_ n: Int, _ width: Int) {
            var buf = [UInt8](repeating: 0x30, count: width)
            var v = n
            var i = width - 1
            while i >= 0 {
                buf[i] = UInt8(0x30 + v % 10)
                v /= 10
                i -= 1
            }
            out += buf
        }
        if y < 0 { out.append(UInt8(ascii: "-")) }
        digits(abs(y), 4)
        out.append(UInt8(ascii: "-")); digits(m, 2)
        out.append(UInt8(ascii: "-")); digits(d, 2)
        out.append(UInt8(ascii: "T")); digits(secs / 3600, 2)
        out.append(UInt8(ascii: ":")); digits(secs % 3600 / 60, 2)
        out.append(UInt8(ascii: ":")); digits(secs % 60, 2)
        out += Array("+00:00".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension AgentStore {
    /// Runs a compiled query: the page of agent objects (framework shape: padded ids, `os` nested, dates
    /// wrapped, `group` a list, NULL columns and a zero disconnection time left out) and the total count.
    public func listAgents(_ query: CompiledAgentQuery) throws(StoreError) -> AgentListing {
        // On a reader of its own, in one read transaction: the count and the page see the same rows, and
        // pages render in parallel beside the writer.
        try reading { (db: SQLiteConnection) throws(StoreError) -> AgentListing in try AgentReads.listAgents(SQLiteReader(db: db), query) }
    }

    /// Runs `body` on a statement prepared for this one query and finalized after: query texts vary with
    /// every `q`, so they stay out of the connection's statement cache.
    static func withStatement<T>(_ db: SQLiteConnection, _ sql: String, _ values: [SQLValue],
                                 _ body: (SQLiteStatement) throws(StoreError) -> T) throws(StoreError) -> T {
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v2(db.handle, sql, -1, &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw db.error("preparing \(sql.prefix(60))", code: rc) }
        let stmt = SQLiteStatement(raw, connection: db)
        try stmt.bind(values)
        return try body(stmt)
    }

    /// What `renderJSON` needs of the fields, laid out so that writing a row copies no field struct
    /// (each copy retains five buffers): kinds, and every `"key": ` text in one byte array.
    struct RowPlan {
        let kinds: [AgentField.Kind]
        let isOS: [Bool]
        let keys: [UInt8]
        let keyRanges: [Range<Int>]

        init(_ fields: [AgentField]) {
            kinds = fields.map(\.kind)
            isOS = fields.map { $0.osKey != nil }
            var keys: [UInt8] = []
            var ranges: [Range<Int>] = []
            for f in fields {
                let text = f.osKey != nil ? f.osKeyJSON : f.keyJSON
                ranges.append(keys.count..<(keys.count + text.count))
                keys += text
            }
            self.keys = keys
            keyRanges = ranges
        }
    }


    /// One agent object written straight to `json.dumps` text, without building a tree (a 500-agent page
    /// is most of a `get_agents` answer): the fields in order, `os.*` nested in an `os` object written last,
    /// padded ids, dates wrapped, `group` a list, NULL columns and a zero disconnection time left out. The
    /// tests check it byte for byte against a tree-built reference.
    static func renderJSON<Row: AgentRow>(_ stmt: Row, plan: RowPlan) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(768)
        var os: [UInt8] = []
        out.append(UInt8(ascii: "{"))
        func date(_ epoch: Int, into buffer: inout [UInt8]) {
            buffer.append(contentsOf: Self.dateOpen)
            WazuhDate.write(epoch: epoch, into: &buffer)
            buffer.append(contentsOf: [0x22, 0x7D])
        }
        plan.keys.withUnsafeBufferPointer { keys in
            func key(_ i: Int, into buffer: inout [UInt8]) {
                if buffer.count > 1 { buffer.append(contentsOf: [0x2C, 0x20]) }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: keys[plan.keyRanges[i]]))
            }
            for i in 0..<plan.kinds.count where !stmt.isNull(i) {
                let kind = plan.kinds[i]
                if kind == .dateNonZero, (stmt.int(i) ?? 0) == 0 { continue }
                if plan.isOS[i] {
                    if os.isEmpty { os.append(UInt8(ascii: "{")) }
                    key(i, into: &os)
                    stmt.appendJSONString(i, into: &os)
                    continue
                }
                key(i, into: &out)
                switch kind {
                case .id:
                    out.append(0x22)
                    let id = stmt.int(i) ?? 0
                    if id >= 0 && id < 1000 {
                        out.append(contentsOf: [UInt8(0x30 + id / 100), UInt8(0x30 + id / 10 % 10), UInt8(0x30 + id % 10)])
                    } else {
                        out.append(contentsOf: ClientKeys.paddedID(id).utf8)
                    }
                    out.append(0x22)
                case .text: stmt.appendJSONString(i, into: &out)
                case .integer: PythonJSONEncoder.writeInt(Int64(stmt.int(i) ?? 0), into: &out)
                case .date, .dateNonZero: date(stmt.int(i) ?? 0, into: &out)
                case .groups:
                    out.append(UInt8(ascii: "["))
                    var first = true
                    for g in (stmt.text(i) ?? "").split(separator: ",") {
                        if !first { out.append(contentsOf: [0x2C, 0x20]) }
                        first = false
                        var name = String(g)
                        name.withUTF8 { PythonJSONEncoder.writeString(utf8: $0, ensureASCII: true, into: &out) }
                    }
                    out.append(UInt8(ascii: "]"))
                }
            }
        }
        if !os.isEmpty {
            os.append(UInt8(ascii: "}"))
            if out.count > 1 { out.append(contentsOf: [0x2C, 0x20]) }
            out.append(contentsOf: Self.osKeyJSON)
            out.append(contentsOf: os)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static let dateOpen = Array(#"{"__wazuh_datetime__": ""#.utf8)
    static let osKeyJSON = Array(#""os": "#.utf8)


    /// The ids among `ids` that exist.
    public func existingIDs(_ ids: [Int]) throws(StoreError) -> Set<Int> {
        try reading { (db: SQLiteConnection) throws(StoreError) -> Set<Int> in try AgentReads.existingIDs(SQLiteReader(db: db), ids) }
    }

    /// `get_agents_summary_status` counts over the agents (the manager left out): by connection status and
    /// by `group_config_status`.
    public func summaryCounts() throws(StoreError) -> (connection: [String: Int], configuration: [String: Int]) {
        try reading { (db: SQLiteConnection) throws(StoreError) -> (connection: [String: Int], configuration: [String: Int]) in
            try AgentReads.summaryCounts(SQLiteReader(db: db))
        }
    }
}
