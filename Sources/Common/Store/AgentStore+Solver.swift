extension AgentStore {
    /// `(id, node_name)` of the agents with an id in `ids` (nil: any) and a node in `nodeNames` (nil: any),
    /// in id order: how the master decides which node an agent reports to (LOCAL-DAPI-CONTROL.md §2.4).
    /// A NULL node name reads as "".
    public func agentNodes(ids: [Int]? = nil, nodeNames: [String]? = nil) throws(StoreError) -> [(id: Int, node: String)] {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let ids {
            conditions.append("id IN (\(ids.map { _ in "?" }.joined(separator: ", ")))")
            values += ids.map { .int(Int64($0)) }
        }
        if let nodeNames {
            conditions.append("node_name IN (\(nodeNames.map { _ in "?" }.joined(separator: ", ")))")
            values += nodeNames.map { .text($0) }
        }
        if (ids?.isEmpty ?? false) || (nodeNames?.isEmpty ?? false) { return [] }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT id, COALESCE(node_name, '') FROM agent\(filter) ORDER BY id"
        return try locked { (s: inout State) throws(StoreError) -> [(id: Int, node: String)] in
            let stmt = try s.db.statement(sql)
            try stmt.bind(values)
            defer { stmt.reset() }
            var out: [(id: Int, node: String)] = []
            while try stmt.step() { out.append((stmt.int(0) ?? 0, stmt.text(1) ?? "")) }
            return out
        }
    }

    /// The distinct node names agents report to, in descending order.
    public func agentNodeNames() throws(StoreError) -> [String] {
        try locked { (s: inout State) throws(StoreError) -> [String] in
            let stmt = try s.db.statement("SELECT DISTINCT COALESCE(node_name, '') FROM agent ORDER BY node_name DESC")
            defer { stmt.reset() }
            var out: [String] = []
            while try stmt.step() { out.append(stmt.text(0) ?? "") }
            return out
        }
    }
}

extension AgentStore {
    /// Agents (not the manager) counted by the node they report to and their connection status.
    public func countsByNodeAndStatus() throws(StoreError) -> [(node: String, status: String, count: Int)] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [(node: String, status: String, count: Int)] in
            let stmt = try db.statement("""
                SELECT COALESCE(node_name, ''), connection_status, count(*) FROM agent WHERE id != 0
                GROUP BY 1, 2 ORDER BY 1, 2
                """)
            defer { stmt.reset() }
            var out: [(node: String, status: String, count: Int)] = []
            while try stmt.step() { out.append((stmt.text(0) ?? "", stmt.text(1) ?? "", stmt.int(2) ?? 0)) }
            return out
        }
    }
}
