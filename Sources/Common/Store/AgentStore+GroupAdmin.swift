/// Group administration as the framework's group functions need it: counts, membership, creating and
/// deleting groups, assigning and unassigning agents. Every change to an agent's groups goes through
/// `writeGroups` with `group_sync_status = 'syncreq'`, so the master's agent-groups task carries it to
/// the workers.
extension AgentStore {
    /// Agents per group name, for the groups of the `group` table (a group nobody belongs to counts 0).
    public func groupCounts() throws(StoreError) -> [String: Int] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [String: Int] in try AgentReads.groupCounts(SQLiteReader(db: db)) }
    }

    /// The groups of each of `ids` that exists (priority order); missing ids are absent from the result.
    public func groups(ofAgents ids: [Int]) throws(StoreError) -> [Int: [String]] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [Int: [String]] in try AgentReads.groups(SQLiteReader(db: db), ofAgents: ids) }
    }

    /// Adds a row to the `group` table (nothing when it is there).
    public func createGroup(_ name: String) throws(StoreError) {
        let path = self.path
        guard !name.isEmpty else { throw StoreError(.invalidInput, path: path, "create group: empty name") }
        try locked { (s: inout State) throws(StoreError) in
            _ = try s.db.run("INSERT OR IGNORE INTO `group` (name) VALUES (?)", [.text(name)])
        }
    }

    /// Deletes a group: its members lose it (one left with no group goes back to `default`) and are marked
    /// for the agent-groups sync; the `group` row goes. Returns the ids of the agents that were in it.
    @discardableResult
    public func deleteGroup(_ name: String) throws(StoreError) -> [Int] {
        try locked { (s: inout State) throws(StoreError) -> [Int] in
            try s.db.transaction { () throws(StoreError) -> [Int] in
                let members = try s.db.ints(
                    "SELECT b.id_agent FROM belongs b JOIN `group` g ON g.id = b.id_group WHERE g.name = ? ORDER BY b.id_agent",
                    [.text(name)])
                var cache: [String: Int64] = [:]
                for id in members {
                    let kept = try Self.groups(s.db, agent: Int64(id)).filter { $0 != name }
                    let final = kept.isEmpty && name != Self.defaultGroup ? [Self.defaultGroup] : kept
                    try Self.writeGroups(s.db, agent: Int64(id), groups: final, syncStatus: "syncreq", ids: &cache)
                }
                try s.db.run("DELETE FROM `group` WHERE name = ?", [.text(name)])
                return members
            }
        }
    }

    /// Sets one agent's groups (in order) and marks it for the agent-groups sync. False when the agent is
    /// not in the database.
    @discardableResult
    public func setGroups(agent id: Int, _ groups: [String]) throws(StoreError) -> Bool {
        try locked { (s: inout State) throws(StoreError) -> Bool in
            try s.db.transaction { () throws(StoreError) -> Bool in
                guard try !s.db.ints("SELECT 1 FROM agent WHERE id = ?", [.int(Int64(id))]).isEmpty else { return false }
                var cache: [String: Int64] = [:]
                try Self.writeGroups(s.db, agent: Int64(id), groups: groups, syncStatus: "syncreq", ids: &cache)
                return true
            }
        }
    }

    /// Sets the groups of several agents in one transaction (`groupsFor` gets each agent's current groups
    /// and returns the new list, or nil to leave it); marks every changed agent for the agent-groups sync.
    /// Returns the ids changed.
    public func updateGroups(agents ids: [Int], _ groupsFor: (Int, [String]) -> [String]?) throws(StoreError) -> [Int] {
        try locked { (s: inout State) throws(StoreError) -> [Int] in
            try s.db.transaction { () throws(StoreError) -> [Int] in
                var cache: [String: Int64] = [:]
                var changed: [Int] = []
                for id in ids {
                    guard try !s.db.ints("SELECT 1 FROM agent WHERE id = ?", [.int(Int64(id))]).isEmpty else { continue }
                    let current = try Self.groups(s.db, agent: Int64(id))
                    guard let final = groupsFor(id, current) else { continue }
                    try Self.writeGroups(s.db, agent: Int64(id), groups: final, syncStatus: "syncreq", ids: &cache)
                    changed.append(id)
                }
                return changed
            }
        }
    }
}
