/// `sync-agent-info-set` straight from the chunk's bytes (see `AgentStore.syncAgentInfoSet`): each agent's
/// values are bound into the prepared UPDATE as they are read, strings without escapes by pointer into the
/// chunk, so no JSONValue, String or [SQLValue] is built per agent.
///
/// It gives up (nil) on anything it does not take the plain way: a key with escapes, a repeated key, an id
/// that is not a plain integer, a non-scalar column, a label it cannot read, malformed JSON, a failing
/// statement. The caller then rolls back and runs the reference path, which reaches the same result or
/// words the error. So this path must never accept a chunk the reference refuses: whatever it skips is
/// still parsed by the same JSONParser cursor, at the same depth.
///
/// It runs with CHECK constraints off (the caller's `PRAGMA ignore_check_constraints`): SQLite evaluates
/// `connection_status IN (…four values…)` by building a temporary table on every execution, a third of
/// the UPDATE. So this path checks what those constraints would: it takes only chunks whose agents carry a
/// `connection_status` and a `group_config_status` among the allowed texts (a worker's rows always do;
/// absent or null would keep a stored value it has not seen); `sync_status` is always 'synced'.
struct AgentInfoChunkApplier {
    private let db: SQLiteConnection
    private var c: JSONParser.Cursor
    /// The current agent's labels, applied once its UPDATE found the row (the id may come after them).
    private var labels: [(key: Text, value: Value)] = []

    private struct GiveUp: Error {}

    /// A string value: a range of the chunk when it has no escapes, else decoded.
    private enum Text {
        case borrowed(Range<Int>)
        case decoded(String)
    }

    private enum Value {
        case null
        case int(Int64)
        case double(Double)
        case text(Text)
    }

    /// Key indexes: 0 the id, 1…21 the UPDATE's parameters (`agentInfoColumns` order), 22 the labels.
    private static let keyTable = ByteTable(AgentStore.agentInfoColumns + ["labels"])
    private static let idParameter = Int32(AgentStore.agentInfoColumns.count)
    private static let connectionStatusKey = AgentStore.agentInfoColumns.firstIndex(of: "connection_status")!
    private static let groupConfigKey = AgentStore.agentInfoColumns.firstIndex(of: "group_config_status")!
    /// The texts the table's CHECK constraints allow.
    private static let connectionStatuses = ByteTable(ConnectionStatus.all.sorted())
    private static let groupConfigStatuses = ByteTable(["synced", "not synced"])

    // The tables above, copied once per chunk: statics cost a lazy-initialisation check on every use.
    private let keys = keyTable
    private let labelsKey = AgentStore.agentInfoColumns.count
    private let connectionStatusKey = connectionStatusKey, groupConfigKey = groupConfigKey
    private let checkedKeys = UInt32(1) << connectionStatusKey | UInt32(1) << groupConfigKey

    init(db: SQLiteConnection, bytes: UnsafeBufferPointer<UInt8>) {
        self.db = db
        c = JSONParser.Cursor(bytes: bytes, maxDepth: JSONParser.defaultMaxDepth)
    }

    /// Applies the chunk inside the caller's transaction; nil when it gave up (the caller rolls back).
    mutating func apply() -> (updated: Int, foreignKeyErrors: Int)? {
        do { return try applyChunk() } catch { return nil }
    }

    private mutating func applyChunk() throws -> (updated: Int, foreignKeyErrors: Int) {
        let update = try db.statement(AgentStore.agentInfoUpdate)
        let deleteLabels = try db.statement(AgentStore.agentInfoDeleteLabels)
        let insertLabel = try db.statement(AgentStore.agentInfoInsertLabel)
        // reset() also clears the bindings, which point into the chunk.
        defer { update.reset(); deleteLabels.reset(); insertLabel.reset() }
        var updated = 0
        var missing = 0
        // An agent without labels needs no DELETE while the table has none but the ones this chunk adds.
        var labelsMayExist = try db.ints("SELECT EXISTS (SELECT 1 FROM labels)") != [0]
        c.skipSpace()
        try expect(UInt8(ascii: "["))
        c.skipSpace()
        if peek(UInt8(ascii: "]")) {
            c.i += 1
        } else {
            repeat {
                c.skipSpace()
                let id = try agent(update)
                // As the reference: ids ≤ 0 are not looked up (0 is the manager's own row).
                if id > 0, try update.run() == 1 {
                    if labelsMayExist {
                        deleteLabels.bind(1, int: id)
                        _ = try deleteLabels.run()
                        deleteLabels.reset()
                    }
                    labelsMayExist = labelsMayExist || !labels.isEmpty
                    for label in labels {
                        insertLabel.bind(1, int: id)
                        try bind(insertLabel, 2, .text(label.key), null: .null)
                        try bind(insertLabel, 3, label.value, null: .text(.decoded("")))
                        _ = try insertLabel.run()
                        insertLabel.reset()
                    }
                    updated += 1
                } else {
                    missing += 1
                }
                update.reset()
                c.skipSpace()
            } while try next(UInt8(ascii: "]"))
        }
        c.skipSpace()
        guard c.i == c.bytes.count else { throw GiveUp() }
        return (updated, missing)
    }

    /// Reads one agent object, binding its columns into `update`; returns its id.
    private mutating func agent(_ update: SQLiteStatement) throws -> Int64 {
        try expect(UInt8(ascii: "{"))
        labels.removeAll(keepingCapacity: true)
        var seen: UInt32 = 0
        var id: Int64?
        var expected = 0
        // Locals, not properties, in the patterns below: matching on a property of the self being mutated
        // made the compiler copy the whole applier for every key.
        let labelsKey = self.labelsKey, connectionStatusKey = self.connectionStatusKey, groupConfigKey = self.groupConfigKey
        c.skipSpace()
        guard !peek(UInt8(ascii: "}")) else { throw GiveUp() }
        repeat {
            c.skipSpace()
            let k = try key(expected: expected)
            c.skipSpace()
            try expect(UInt8(ascii: ":"))
            c.skipSpace()
            if let k {
                guard seen & (1 << k) == 0 else { throw GiveUp() }
                seen |= 1 << k
                expected = k + 1
                switch k {
                case 0:
                    // A number only: the reference takes no string or boolean for the id.
                    guard c.i < c.bytes.count, c.bytes[c.i] == UInt8(ascii: "-") || (0x30...0x39).contains(c.bytes[c.i]),
                          case .int(let v) = try number() else { throw GiveUp() }
                    id = v
                case labelsKey:
                    try readLabels()
                case connectionStatusKey, groupConfigKey:
                    let value = try scalar()
                    let allowed = k == connectionStatusKey ? Self.connectionStatuses : Self.groupConfigStatuses
                    guard case .text(.borrowed(let r)) = value, allowed.index(of: UnsafeBufferPointer(rebasing: c.bytes[r])) != nil
                    else { throw GiveUp() }
                    try bind(update, Int32(k), value, null: .null)
                default:
                    let value = try scalar()  // not inline: an argument that mutates self made self be copied
                    try bind(update, Int32(k), value, null: .null)
                }
            } else {
                _ = try c.value(depth: 2)  // a key agent-info does not use: ignored, as by the reference
            }
            c.skipSpace()
        } while try next(UInt8(ascii: "}"))
        guard let id, seen & checkedKeys == checkedKeys else { throw GiveUp() }
        update.bind(Self.idParameter, int: id)
        return id
    }

    /// The index of the key at the cursor (nil for one agent-info does not use), trying `expected` first:
    /// chunks from a get list the keys in column order.
    private mutating func key(expected: Int) throws -> Int? {
        try expect(UInt8(ascii: "\""))
        let start = c.i
        while c.i < c.bytes.count, c.bytes[c.i] != 0x22, c.bytes[c.i] != 0x5C, c.bytes[c.i] >= 0x20 { c.i += 1 }
        guard c.i < c.bytes.count, c.bytes[c.i] == 0x22 else { throw GiveUp() }
        let name = UnsafeBufferPointer(rebasing: c.bytes[start..<c.i])
        c.i += 1
        return keys.index(of: name, tryingFirst: expected)
    }

    /// A scalar value; gives up on arrays and objects (the reference refuses them as non-scalar).
    private mutating func scalar() throws -> Value {
        guard c.i < c.bytes.count else { throw GiveUp() }
        switch c.bytes[c.i] {
        case UInt8(ascii: "\""):
            return .text(try text())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try number()
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            throw GiveUp()
        default:
            switch try c.value(depth: 2) {
            case .null: return .null
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(d)  // NaN, Infinity
            default: throw GiveUp()
            }
        }
    }

    private mutating func text() throws -> Text {
        var j = c.i + 1
        while j < c.bytes.count, c.bytes[j] != 0x22, c.bytes[j] != 0x5C, c.bytes[j] >= 0x20 { j += 1 }
        if j < c.bytes.count, c.bytes[j] == 0x22 {
            defer { c.i = j + 1 }
            return .borrowed(c.i + 1..<j)
        }
        return .decoded(try c.string())  // escapes, or an error the cursor reports
    }

    /// Integers of up to 18 digits (all agent-info carries) are read here; other numbers by the cursor.
    private mutating func number() throws -> Value {
        var j = c.i
        let negative = c.bytes[j] == UInt8(ascii: "-")
        if negative { j += 1 }
        let digits = j
        var v: Int64 = 0
        while j < c.bytes.count, j - digits < 18, c.bytes[j] >= 0x30, c.bytes[j] <= 0x39 {
            v = v * 10 + Int64(c.bytes[j] - 0x30)
            j += 1
        }
        let ends = j == c.bytes.count || !Self.continuesNumber[Int(c.bytes[j])]
        if j > digits, ends {
            c.i = j
            return .int(negative ? -v : v)
        }
        switch try c.number() {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: throw GiveUp()
        }
    }

    private static let continuesNumber: [Bool] = (0..<256).map {
        ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x45 || $0 == 0x65
    }

    /// `labels`: an array of `{"key": "<string>", "value": <scalar>}` (other keys ignored). Any other value
    /// means no labels, as for the reference, once it parses.
    private mutating func readLabels() throws {
        guard peek(UInt8(ascii: "[")) else {
            _ = try c.value(depth: 2)
            return
        }
        c.i += 1
        c.skipSpace()
        if peek(UInt8(ascii: "]")) {
            c.i += 1
            return
        }
        repeat {
            c.skipSpace()
            try expect(UInt8(ascii: "{"))
            var key: Text?
            var value = Value.null
            c.skipSpace()
            if peek(UInt8(ascii: "}")) {
                c.i += 1
            } else {
                repeat {
                    c.skipSpace()
                    guard peek(UInt8(ascii: "\"")) else { throw GiveUp() }
                    let name = try c.string()
                    c.skipSpace()
                    try expect(UInt8(ascii: ":"))
                    c.skipSpace()
                    switch name {  // a repeated key: the last one counts, as in JSONObject
                    case "key":
                        guard peek(UInt8(ascii: "\"")) else { throw GiveUp() }
                        key = try text()
                    case "value":
                        value = try scalar()
                    default:
                        _ = try c.value(depth: 4)
                    }
                    c.skipSpace()
                } while try next(UInt8(ascii: "}"))
            }
            guard let key else { throw GiveUp() }
            labels.append((key, value))
            c.skipSpace()
        } while try next(UInt8(ascii: "]"))
    }

    /// Binds `value` as the reference binds its SQLValue; `null` is what a JSON null stands for.
    private func bind(_ stmt: SQLiteStatement, _ index: Int32, _ value: Value, null: Value) throws {
        switch value {
        case .null:
            if case .null = null { stmt.bindNull(index) } else { try bind(stmt, index, null, null: .null) }
        case .int(let i): stmt.bind(index, int: i)
        case .double(let d): stmt.bind(index, double: d)
        case .text(.borrowed(let r)): try stmt.bind(index, borrowing: UnsafeBufferPointer(rebasing: c.bytes[r]))
        case .text(.decoded(let s)): try stmt.bind(index, text: s)
        }
    }

    private func peek(_ byte: UInt8) -> Bool { c.i < c.bytes.count && c.bytes[c.i] == byte }

    private mutating func expect(_ byte: UInt8) throws {
        guard peek(byte) else { throw GiveUp() }
        c.i += 1
    }

    /// After a member or element: true past a comma, false past `close`.
    private mutating func next(_ close: UInt8) throws -> Bool {
        if peek(UInt8(ascii: ",")) { c.i += 1; return true }
        try expect(close)
        return false
    }
}
