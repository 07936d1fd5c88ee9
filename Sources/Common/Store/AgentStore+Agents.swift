import Foundation

/// Registration, queries and the keep-alive update: what authd, remoted and the framework do to the table.
extension AgentStore {
    /// `AgentStore.AgentRecord` is the module's `AgentRecord`.
    public typealias AgentRecord = Common.AgentRecord

    /// Adds a registered agent the way the master authd's writer does (LOCAL-DAPI-CONTROL.md §5.2): `ip` goes
    /// to `register_ip` (the connection address, `ip`, stays NULL until the agent connects), `key` to
    /// `internal_key`, and `groups` become its groups (in order) with `group_sync_status = groupSyncStatus`.
    /// An agent without groups gets none; authd passes `["default"]` when the request named none.
    public func insertAgent(id: Int, name: String, ip: String, key: String, groups: [String], groupSyncStatus: String,
                            dateAdd: Int) throws(StoreError)
    {
        let path = self.path
        guard id > 0 else { throw StoreError(.invalidInput, path: path, "insert agent: id \(id) is not positive (0 is the manager)") }
        guard !name.isEmpty else { throw StoreError(.invalidInput, path: path, "insert agent \(id): empty name") }
        guard SyncStatus.all.contains(groupSyncStatus) else {
            throw StoreError(.invalidInput, path: path, "insert agent \(id): group sync status \"\(groupSyncStatus)\" is not synced or syncreq")
        }
        try locked { (s: inout State) throws(StoreError) in
            try s.db.transaction { () throws(StoreError) in
                guard try s.db.ints("SELECT 1 FROM agent WHERE id = ?", [.int(Int64(id))]).isEmpty else {
                    throw StoreError(.conflict, path: path, "insert agent: id \(ClientKeys.paddedID(id)) already exists")
                }
                try s.db.run(
                    "INSERT INTO agent (id, name, register_ip, internal_key, date_add, `group`) VALUES (?, ?, ?, ?, ?, NULL)",
                    [.int(Int64(id)), .text(name), .text(ip), .text(key), .int(Int64(dateAdd))])
                var cache: [String: Int64] = [:]
                try Self.writeGroups(s.db, agent: Int64(id), groups: groups, syncStatus: groupSyncStatus, ids: &cache)
            }
        }
    }

    /// Removes an agent with its labels and group assignments. The manager row cannot be deleted.
    public func deleteAgent(id: Int) throws(StoreError) {
        let path = self.path
        guard id > 0 else { throw StoreError(.invalidInput, path: path, "delete agent: id \(id) is the manager or invalid") }
        try locked { (s: inout State) throws(StoreError) in
            guard try s.db.run("DELETE FROM agent WHERE id = ?", [.int(Int64(id))]) == 1 else {
                throw StoreError(.notFound, path: path, "delete agent: no agent with id \(ClientKeys.paddedID(id))")
            }
        }
    }

    /// The agent with `id` (0 = the manager), nil when there is none.
    public func agent(id: Int) throws(StoreError) -> AgentRecord? {
        try reading { (db: SQLiteConnection) throws(StoreError) -> AgentRecord? in try AgentReads.agent(SQLiteReader(db: db), id: id) }
    }

    /// Agents in id order, the manager row included, optionally only those on `nodeNames` and with a
    /// `connection_status` in `statuses`.
    public func agents(nodeNames: [String]? = nil, statuses: [String]? = nil) throws(StoreError) -> [AgentRecord] {
        try reading { (db: SQLiteConnection) throws(StoreError) -> [AgentRecord] in
            try AgentReads.agents(SQLiteReader(db: db), nodeNames: nodeNames, statuses: statuses)
        }
    }

    /// The id authd gives the next agent: one more than the highest id in use (ids are never reused while
    /// a higher one exists, as authd's counter does). On the writer: a registration follows at once.
    public func nextFreeID() throws(StoreError) -> Int {
        try locked { (s: inout State) throws(StoreError) -> Int in try AgentReads.nextFreeID(SQLiteReader(db: s.db)) }
    }

    /// Agents (not the manager) with `connection_status = 'active'` reporting to `nodeName`: the health
    /// output's `n_active_agents`.
    public func countActive(nodeName: String) throws(StoreError) -> Int {
        try reading { (db: SQLiteConnection) throws(StoreError) -> Int in try AgentReads.countActive(SQLiteReader(db: db), nodeName: nodeName) }
    }

    /// Columns a keep-alive may set from `os` in `recordKeepalive`. Beyond the `os_*` columns the agent
    /// reports, remoted also records the connection address and the configuration sums.
    public static let keepaliveKeys = [
        "os_name", "os_version", "os_major", "os_minor", "os_codename", "os_build", "os_platform", "os_uname",
        "os_arch", "ip", "manager_host", "config_sum", "merged_sum",
    ]

    /// What a manager's remoted writes when an agent's keep-alive arrives: the reported OS fields (keys of
    /// `keepaliveKeys`; absent keys keep their value), `version`, `last_keepalive`, `connection_status`,
    /// `node_name` and `sync_status` ('syncreq' on a worker, so the row reaches the master; 'synced' on the
    /// master). A disconnected status records `lastKeepalive` as the disconnection time, others clear it.
    public func recordKeepalive(id: Int, nodeName: String, connectionStatus: String, os: [String: String], version: String,
                                lastKeepalive: Int, syncStatus: String) throws(StoreError)
    {
        let path = self.path
        func bad(_ what: String) -> StoreError { StoreError(.invalidInput, path: path, "keep-alive of agent \(id): \(what)") }
        guard id > 0 else { throw bad("id is not positive (0 is the manager)") }
        guard ConnectionStatus.all.contains(connectionStatus) else { throw bad("unknown connection status \"\(connectionStatus)\"") }
        guard SyncStatus.all.contains(syncStatus) else { throw bad("sync status \"\(syncStatus)\" is not synced or syncreq") }
        if let unknown = os.keys.sorted().first(where: { !Self.keepaliveKeys.contains($0) }) {
            throw bad("unknown field \"\(unknown)\" (expected one of \(Self.keepaliveKeys.joined(separator: ", ")))")
        }
        let sets = Self.keepaliveKeys.map { "\($0) = COALESCE(?, \($0))" }.joined(separator: ", ")
        let sql = """
            UPDATE agent SET \(sets), version = ?, last_keepalive = ?, connection_status = ?, node_name = ?,
                sync_status = ?, disconnection_time = ? WHERE id = ?
            """
        var values = Self.keepaliveKeys.map { SQLValue(os[$0]) }
        values += [.text(version), .int(Int64(lastKeepalive)), .text(connectionStatus), .text(nodeName), .text(syncStatus),
                   .int(Int64(connectionStatus == "disconnected" ? lastKeepalive : 0)), .int(Int64(id))]
        try locked { (s: inout State) throws(StoreError) in
            guard try s.db.run(sql, values) == 1 else {
                throw StoreError(.notFound, path: path, "keep-alive: no agent with id \(ClientKeys.paddedID(id))")
            }
        }
    }

    /// A worker's `client.keys` sync (LOCAL-DAPI-CONTROL.md §5.2 step 4): agents in `entries` that the
    /// database lacks are inserted (name, `register_ip`, key, no groups: the master's agent-groups sync
    /// brings those), and agents (id > 0) without an entry are deleted. Existing agents are left as they are.
    public func loadClientKeys(_ entries: [(id: Int, name: String, ip: String, key: String)]) throws(StoreError)
        -> (inserted: Int, deleted: Int)
    {
        let now = Int64(Date().timeIntervalSince1970)
        return try locked { (s: inout State) throws(StoreError) -> (inserted: Int, deleted: Int) in
            try s.db.transaction { () throws(StoreError) -> (inserted: Int, deleted: Int) in
                var present = Set(try s.db.ints("SELECT id FROM agent WHERE id > 0"))
                var wanted: Set<Int> = []
                var inserted = 0
                for e in entries where e.id > 0 && wanted.insert(e.id).inserted && !present.contains(e.id) {
                    try s.db.run(
                        "INSERT INTO agent (id, name, register_ip, internal_key, date_add, `group`) VALUES (?, ?, ?, ?, ?, NULL)",
                        [.int(Int64(e.id)), .text(e.name), .text(e.ip), .text(e.key), .int(now)])
                    present.insert(e.id)
                    inserted += 1
                }
                var deleted = 0
                for id in present.subtracting(wanted).sorted() {
                    deleted += try s.db.run("DELETE FROM agent WHERE id = ?", [.int(Int64(id))])
                }
                return (inserted, deleted)
            }
        }
    }
}

/// `AgentStore.GroupsCondition` under a shorter name.
public typealias GroupsCondition = AgentStore.GroupsCondition
