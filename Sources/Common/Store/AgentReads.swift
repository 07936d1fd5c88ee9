import Foundation

/// One result row, read by column index: an SQLite statement on the embedded store, a row of wazuh-db's
/// `global sql` answer on the wazuh-db backend. The read queries below are written once against it.
protocol AgentRow {
    func isNull(_ i: Int) -> Bool
    func int(_ i: Int) -> Int?
    func text(_ i: Int) -> String?
    /// Appends the column as a `json.dumps` string (ASCII, `\uXXXX` escapes).
    func appendJSONString(_ i: Int, into out: inout [UInt8])
}

extension SQLiteStatement: AgentRow {}

/// Where the read queries run. Every query names its columns `c0`, `c1`, … (wazuh-db answers rows as
/// objects keyed by column name and leaves NULL columns out, so positions alone would not do).
protocol AgentSQLReader {
    associatedtype Row: AgentRow
    /// Runs `sql` with `values` bound to its `?` placeholders, rows `offset..<offset+limit` (all with nil),
    /// calling `each` per row in order.
    func rows(_ sql: String, _ values: [SQLValue], offset: Int, limit: Int?,
              _ each: (Row) throws(StoreError) -> Void) throws(StoreError)
    /// Runs `body` so that its queries see one state of the database where the reader can promise that.
    func consistently<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
}

/// The read queries of the agent table that the node's tasks and the distributed API run, written once for
/// both backends.
enum AgentReads {
    /// `AS c0, …` aliases for a column list.
    static func aliased(_ columns: [String]) -> String {
        columns.enumerated().map { "\($0.element) AS c\($0.offset)" }.joined(separator: ", ")
    }

    /// Integer lists are written into the SQL (they cannot carry quotes): one text for SQLite and wazuh-db.
    static func intList(_ ids: [Int]) -> String { ids.map(String.init).joined(separator: ",") }

    /// Ids per query for lists given by a caller (wazuh-db takes queries of at most 64 KiB).
    static let idsPerQuery = 2000

    static func all<R: AgentSQLReader>(_ r: R, _ sql: String, _ values: [SQLValue] = [],
                                       _ each: (R.Row) throws(StoreError) -> Void) throws(StoreError) {
        try r.rows(sql, values, offset: 0, limit: nil, each)
    }

    static func ints<R: AgentSQLReader>(_ r: R, _ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> [Int] {
        var out: [Int] = []
        try all(r, sql, values) { (row: R.Row) throws(StoreError) in out.append(row.int(0) ?? 0) }
        return out
    }

    // MARK: Listing (the DAPI's get_agents and friends)

    static func listAgents<R: AgentSQLReader>(_ r: R, _ query: CompiledAgentQuery) throws(StoreError) -> AgentListing {
        let columns = query.fields.map(\.sql)
        let distinct = query.distinct ? "DISTINCT " : ""
        var sql = "SELECT \(distinct)\(aliased(columns)) FROM agent\(query.whereSQL)"
        if !query.orderSQL.isEmpty { sql += " ORDER BY " + query.orderSQL }
        let countSQL = query.distinct
            ? "SELECT count(*) AS c0 FROM (SELECT DISTINCT \(columns.joined(separator: ", ")) FROM agent\(query.whereSQL))"
            : "SELECT count(*) AS c0 FROM agent\(query.whereSQL)"
        return try r.consistently { () throws(StoreError) -> AgentListing in
            let total = try ints(r, countSQL, query.values).first ?? 0
            var items: [JSONValue] = []
            let plan = AgentStore.RowPlan(query.fields)
            try r.rows(sql, query.values, offset: query.offset, limit: query.limit) { (row: R.Row) throws(StoreError) in
                items.append(.raw(RawJSON(AgentStore.renderJSON(row, plan: plan))))
            }
            return AgentListing(items: items, total: total)
        }
    }

    /// The ids among `ids` that exist.
    static func existingIDs<R: AgentSQLReader>(_ r: R, _ ids: [Int]) throws(StoreError) -> Set<Int> {
        var out: Set<Int> = []
        for start in stride(from: 0, to: ids.count, by: idsPerQuery) {
            let part = Array(ids[start..<min(ids.count, start + idsPerQuery)])
            out.formUnion(try ints(r, "SELECT id AS c0 FROM agent WHERE id IN (\(intList(part)))"))
        }
        return out
    }

    static func summaryCounts<R: AgentSQLReader>(_ r: R) throws(StoreError) -> (connection: [String: Int], configuration: [String: Int]) {
        try r.consistently { () throws(StoreError) -> (connection: [String: Int], configuration: [String: Int]) in
            var connection: [String: Int] = [:]
            var configuration: [String: Int] = [:]
            try all(r, "SELECT connection_status AS c0, count(*) AS c1 FROM agent WHERE id != 0 GROUP BY connection_status") {
                (row: R.Row) throws(StoreError) in connection[row.text(0) ?? "", default: 0] += row.int(1) ?? 0
            }
            try all(r, "SELECT group_config_status AS c0, count(*) AS c1 FROM agent WHERE id != 0 GROUP BY group_config_status") {
                (row: R.Row) throws(StoreError) in configuration[row.text(0) ?? "", default: 0] += row.int(1) ?? 0
            }
            return (connection, configuration)
        }
    }

    // MARK: Records

    static func agent<R: AgentSQLReader>(_ r: R, id: Int) throws(StoreError) -> AgentRecord? {
        var found: AgentRecord?
        try all(r, "SELECT \(aliased(AgentRecord.columnList)) FROM agent WHERE id = \(id)") { (row: R.Row) throws(StoreError) in
            found = AgentRecord(row: row)
        }
        return found
    }

    static func agents<R: AgentSQLReader>(_ r: R, nodeNames: [String]?, statuses: [String]?) throws(StoreError) -> [AgentRecord] {
        var conditions: [String] = []
        var values: [SQLValue] = []
        for (column, list) in [("node_name", nodeNames), ("connection_status", statuses)] {
            guard let list else { continue }
            if list.isEmpty { return [] }
            conditions.append("\(column) IN (\(list.map { _ in "?" }.joined(separator: ", ")))")
            values += list.map { .text($0) }
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        var out: [AgentRecord] = []
        try all(r, "SELECT \(aliased(AgentRecord.columnList)) FROM agent\(filter) ORDER BY id", values) { (row: R.Row) throws(StoreError) in
            out.append(AgentRecord(row: row))
        }
        return out
    }

    static func nextFreeID<R: AgentSQLReader>(_ r: R) throws(StoreError) -> Int {
        try ints(r, "SELECT COALESCE(MAX(id), 0) + 1 AS c0 FROM agent").first ?? 1
    }

    static func countActive<R: AgentSQLReader>(_ r: R, nodeName: String) throws(StoreError) -> Int {
        try ints(r, "SELECT count(*) AS c0 FROM agent WHERE id != 0 AND connection_status = 'active' AND node_name = ?",
                 [.text(nodeName)]).first ?? 0
    }

    // MARK: The DAPI solver and the API's per-node counts

    static func agentNodes<R: AgentSQLReader>(_ r: R, ids: [Int]?, nodeNames: [String]?) throws(StoreError) -> [(id: Int, node: String)] {
        if (ids?.isEmpty ?? false) || (nodeNames?.isEmpty ?? false) { return [] }
        var nodeCondition = ""
        var values: [SQLValue] = []
        if let nodeNames {
            nodeCondition = "node_name IN (\(nodeNames.map { _ in "?" }.joined(separator: ", ")))"
            values = nodeNames.map { .text($0) }
        }
        func run(_ idCondition: String?) throws(StoreError) -> [(id: Int, node: String)] {
            let conditions = [idCondition, nodeCondition.isEmpty ? nil : nodeCondition].compactMap { $0 }
            let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
            var out: [(id: Int, node: String)] = []
            try all(r, "SELECT id AS c0, COALESCE(node_name, '') AS c1 FROM agent\(filter) ORDER BY id", values) {
                (row: R.Row) throws(StoreError) in out.append((row.int(0) ?? 0, row.text(1) ?? ""))
            }
            return out
        }
        guard let ids else { return try run(nil) }
        var out: [(id: Int, node: String)] = []
        for start in stride(from: 0, to: ids.count, by: idsPerQuery) {
            out += try run("id IN (\(intList(Array(ids[start..<min(ids.count, start + idsPerQuery)]))))")
        }
        return out.sorted { $0.id < $1.id }
    }

    static func agentNodeNames<R: AgentSQLReader>(_ r: R) throws(StoreError) -> [String] {
        var out: [String] = []
        try all(r, "SELECT DISTINCT COALESCE(node_name, '') AS c0 FROM agent ORDER BY c0 DESC") { (row: R.Row) throws(StoreError) in
            out.append(row.text(0) ?? "")
        }
        return out
    }

    static func countsByNodeAndStatus<R: AgentSQLReader>(_ r: R) throws(StoreError) -> [(node: String, status: String, count: Int)] {
        var out: [(node: String, status: String, count: Int)] = []
        try all(r, """
            SELECT COALESCE(node_name, '') AS c0, connection_status AS c1, count(*) AS c2 FROM agent WHERE id != 0
            GROUP BY 1, 2 ORDER BY 1, 2
            """) { (row: R.Row) throws(StoreError) in out.append((row.text(0) ?? "", row.text(1) ?? "", row.int(2) ?? 0)) }
        return out
    }

    // MARK: Groups

    static func groupCounts<R: AgentSQLReader>(_ r: R) throws(StoreError) -> [String: Int] {
        var out: [String: Int] = [:]
        try all(r, "SELECT g.name AS c0, count(b.id_agent) AS c1 FROM `group` g LEFT JOIN belongs b ON b.id_group = g.id GROUP BY g.id") {
            (row: R.Row) throws(StoreError) in out[row.text(0) ?? ""] = row.int(1) ?? 0
        }
        return out
    }

    /// The groups of each of `ids` that exists (priority order); missing ids are absent from the result.
    static func groups<R: AgentSQLReader>(_ r: R, ofAgents ids: [Int]) throws(StoreError) -> [Int: [String]] {
        var out: [Int: [String]] = [:]
        for start in stride(from: 0, to: ids.count, by: idsPerQuery) {
            let part = intList(Array(ids[start..<min(ids.count, start + idsPerQuery)]))
            try all(r, """
                SELECT a.id AS c0, g.name AS c1 FROM agent a LEFT JOIN belongs b ON b.id_agent = a.id
                LEFT JOIN `group` g ON g.id = b.id_group WHERE a.id IN (\(part)) ORDER BY a.id, b.priority
                """) { (row: R.Row) throws(StoreError) in
                let id = row.int(0) ?? 0
                if let name = row.text(1) { out[id, default: []].append(name) } else if out[id] == nil { out[id] = [] }
            }
        }
        return out
    }
}

/// The embedded store's reader: one SQLite connection.
struct SQLiteReader: AgentSQLReader {
    let db: SQLiteConnection

    func rows(_ sql: String, _ values: [SQLValue], offset: Int, limit: Int?,
              _ each: (SQLiteStatement) throws(StoreError) -> Void) throws(StoreError) {
        var text = sql
        var bound = values
        if limit != nil || offset > 0 {
            text += " LIMIT ? OFFSET ?"
            bound += [.int(Int64(limit ?? -1)), .int(Int64(offset))]
        }
        try AgentStore.withStatement(db, text, bound) { (stmt: SQLiteStatement) throws(StoreError) in
            while try stmt.step() { try each(stmt) }
        }
    }

    func consistently<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try db.exec("BEGIN")
        defer { try? db.exec("COMMIT") }
        return try body()
    }
}
