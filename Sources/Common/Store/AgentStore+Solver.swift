extension AgentStore {
    /// `(id, node_name)` of the agents with an id in `ids` (nil: any) and a node in `nodeNames` (nil: any),
    /// in id order: how the master decides which node an agent reports to (LOCAL-DAPI-CONTROL.md §2.4).
    /// A NULL node name reads as "".
    public func agentNodes(ids: [Int]? = nil, nodeNames: [String]? = nil) throws(StoreError) -> [(id: Int, node: String)] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [(id: Int, node: String)] in
            try AgentReads.agentNodes(SQLiteReader(db: db), ids: ids, nodeNames: nodeNames)
        }
    }

    /// The distinct node names agents report to, in descending order.
    public func agentNodeNames() throws(StoreError) -> [String] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [String] in try AgentReads.agentNodeNames(SQLiteReader(db: db)) }
    }

    /// Agents (not the manager) counted by the node they report to and their connection status.
    public func countsByNodeAndStatus() throws(StoreError) -> [(node: String, status: String, count: Int)] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [(node: String, status: String, count: Int)] in
            try AgentReads.countsByNodeAndStatus(SQLiteReader(db: db))
        }
    }
}
