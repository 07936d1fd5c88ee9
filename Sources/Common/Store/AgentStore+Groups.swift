/// Agent-group assignment (`set-agent-groups`) and the hashes kept with it (PROTOCOL.md §7).
extension AgentStore {
    /// How `set-agent-groups` combines the given groups with an agent's current ones.
    enum GroupsMode: String {
        /// The given list becomes the agent's groups, in order.
        case override
        /// The given groups not yet assigned are added after the current ones.
        case append
        /// The given list is assigned only to agents without any group.
        case emptyOnly = "empty_only"
        /// The given groups are unassigned; an agent left with none goes back to `default`.
        case remove
    }

    /// The group an agent returns to when `remove` leaves it with none.
    static let defaultGroup = "default"

    /// `global set-agent-groups {"mode":…,"sync_status":…,"data":[{"id":N,"groups":[…]},…]}`.
    /// Sets `belongs` (creating `group` rows as needed), the `group` CSV, `group_hash` and
    /// `group_sync_status` (`sync_status`, default "synced") of each listed agent, in one transaction.
    /// Agent ids the database lacks are skipped, as wazuh-db skips them; the return value counts the agents
    /// written, so `updated < data.count` tells a caller some were missing.
    public func setAgentGroups(_ json: String) throws(StoreError) -> Int {
        try setAgentGroups(GroupsRequest(json, path: path)).updated
    }

    /// `set-agent-groups` in override mode for a parsed `data` array (what a master's agent-groups chunk
    /// carries), without writing the command out and parsing it again.
    public func overrideAgentGroups(data: JSONValue, syncStatus: String) throws(StoreError) -> Int {
        try setAgentGroups(GroupsRequest(mode: .override, syncStatus: syncStatus, data: data, path: path)).updated
    }

    /// `setAgentGroups` for a parsed command, also counting the agent ids the database lacks.
    func setAgentGroups(_ request: GroupsRequest) throws(StoreError) -> (updated: Int, missing: Int) {
        try locked { (s: inout State) throws(StoreError) -> (updated: Int, missing: Int) in
            try s.db.transaction { () throws(StoreError) -> (updated: Int, missing: Int) in
                var groupIDs: [String: Int64] = [:]
                var updated = 0
                var missing = 0
                let current = try s.db.statement("SELECT `group`, group_hash, group_sync_status FROM agent WHERE id = ?")
                for (id, groups) in request.agents {
                    try current.bind([.int(id)])
                    guard try current.step() else {
                        current.reset()
                        missing += 1
                        continue
                    }
                    let stored = (csv: current.text(0), hash: current.text(1), status: current.text(2))
                    current.reset()
                    let final: [String]
                    switch request.mode {
                    case .override:
                        // A full resync sends every agent, and most already hold what it says: such a row
                        // (same CSV, its hash, same status, and `belongs` in that order) is left unwritten.
                        let names = Self.distinct(groups)
                        let csv = GroupHash.csv(names)
                        if stored.csv == csv, stored.hash == csv.map(GroupHash.agentHash), stored.status == request.syncStatus,
                           try Self.groups(s.db, agent: id) == names
                        {
                            updated += 1
                            continue
                        }
                        final = groups
                    case .append:
                        let current = try Self.groups(s.db, agent: id)
                        final = current + groups.filter { !current.contains($0) }
                    case .emptyOnly:
                        guard try Self.groups(s.db, agent: id).isEmpty else { continue }
                        final = groups
                    case .remove:
                        let kept = try Self.groups(s.db, agent: id).filter { !groups.contains($0) }
                        final = kept.isEmpty ? [Self.defaultGroup] : kept
                    }
                    try Self.writeGroups(s.db, agent: id, groups: final, syncStatus: request.syncStatus, ids: &groupIDs)
                    updated += 1
                }
                return (updated, missing)
            }
        }
    }

    /// Names in order, each once (what `writeGroups` stores).
    static func distinct(_ groups: [String]) -> [String] {
        var seen: Set<String> = []
        return groups.filter { seen.insert($0).inserted }
    }

    /// An agent's group names in priority order.
    static func groups(_ db: SQLiteConnection, agent id: Int64) throws(StoreError) -> [String] {
        let stmt = try db.statement(
            "SELECT g.name FROM belongs b JOIN `group` g ON g.id = b.id_group WHERE b.id_agent = ? ORDER BY b.priority")
        try stmt.bind([.int(id)])
        var names: [String] = []
        while try stmt.step() { names.append(stmt.text(0) ?? "") }
        return names
    }

    /// Replaces an agent's `belongs` rows with `groups` (priority = position) and stores the CSV, its hash
    /// and the group sync status. `ids` caches group ids across the agents of one command.
    static func writeGroups(_ db: SQLiteConnection, agent id: Int64, groups: [String], syncStatus: String,
                            ids: inout [String: Int64]) throws(StoreError)
    {
        try db.run("DELETE FROM belongs WHERE id_agent = ?", [.int(id)])
        let ordered = distinct(groups)
        for (priority, name) in ordered.enumerated() {
            let groupID: Int64
            if let cached = ids[name] {
                groupID = cached
            } else {
                try db.run("INSERT OR IGNORE INTO `group` (name) VALUES (?)", [.text(name)])
                groupID = Int64(try db.ints("SELECT id FROM `group` WHERE name = ?", [.text(name)]).first ?? 0)
                ids[name] = groupID
            }
            try db.run("INSERT INTO belongs (id_agent, id_group, priority) VALUES (?, ?, ?)",
                       [.int(id), .int(groupID), .int(Int64(priority))])
        }
        let csv = GroupHash.csv(ordered)
        try db.run("UPDATE agent SET `group` = ?, group_hash = ?, group_sync_status = ? WHERE id = ?",
                   [SQLValue(csv), SQLValue(csv.map(GroupHash.agentHash)), .text(syncStatus), .int(id)])
    }

    /// `global recalculate-agent-group-hashes`: rebuilds every agent's (id > 0) `group` CSV and
    /// `group_hash` from `belongs`, writing only the rows that differ.
    public func recalculateAgentGroupHashes() throws(StoreError) {
        try locked { (s: inout State) throws(StoreError) in
            let stmt = try s.db.statement(
                """
                SELECT a.id, a.`group`, a.group_hash, g.name FROM agent a
                LEFT JOIN belongs b ON b.id_agent = a.id LEFT JOIN `group` g ON g.id = b.id_group
                WHERE a.id > 0 ORDER BY a.id, b.priority
                """)
            var changes: [(id: Int, csv: String?)] = []
            var current: (id: Int, csv: String?, hash: String?, names: [String])? = nil
            func flush() {
                guard let c = current else { return }
                let csv = GroupHash.csv(c.names)
                if csv != c.csv || csv.map(GroupHash.agentHash) != c.hash { changes.append((c.id, csv)) }
            }
            while try stmt.step() {
                let id = stmt.int(0) ?? 0
                if current?.id != id {
                    flush()
                    current = (id, stmt.text(1), stmt.text(2), [])
                }
                if let name = stmt.text(3) { current?.names.append(name) }
            }
            flush()
            stmt.reset()
            try s.db.transaction { () throws(StoreError) in
                for change in changes {
                    try s.db.run("UPDATE agent SET `group` = ?, group_hash = ? WHERE id = ?",
                                 [SQLValue(change.csv), SQLValue(change.csv.map(GroupHash.agentHash)), .int(Int64(change.id))])
                }
            }
        }
    }

    /// The global group hash (see `GroupHash.global`), nil when no agent has a group hash.
    public func globalGroupHash() throws(StoreError) -> String? {
        try locked { (s: inout State) throws(StoreError) -> String? in try Self.globalGroupHash(s.db) }
    }

    static func globalGroupHash(_ db: SQLiteConnection) throws(StoreError) -> String? {
        let stmt = try db.statement("SELECT group_hash FROM agent WHERE id > 0 AND group_hash IS NOT NULL ORDER BY id")
        var hashes: [String] = []
        while try stmt.step() { hashes.append(stmt.text(0) ?? "") }
        return GroupHash.global(hashes)
    }
}

/// A parsed `set-agent-groups` command.
struct GroupsRequest {
    var mode: AgentStore.GroupsMode
    var syncStatus: String
    var agents: [(id: Int64, groups: [String])]

    init(_ json: String, path: String) throws(StoreError) {
        let root: JSONValue
        do { root = try JSONParser.parse(json) } catch { throw Self.bad(error.description, path) }
        guard let modeText = root["mode"]?.stringValue else { throw Self.bad("missing string \"mode\"", path) }
        guard let mode = AgentStore.GroupsMode(rawValue: modeText) else {
            throw Self.bad("unknown mode \"\(modeText)\" (override, append, empty_only or remove)", path)
        }
        try self.init(mode: mode, syncStatus: root["sync_status"]?.stringValue ?? "synced", data: root["data"], path: path)
    }

    /// The command's parts, `data` already parsed (a `sync-agent-groups-get` chunk's `data`, say).
    init(mode: AgentStore.GroupsMode, syncStatus status: String, data: JSONValue?, path: String) throws(StoreError) {
        guard SyncStatus.all.contains(status) else { throw Self.bad("sync_status \"\(status)\" is not synced or syncreq", path) }
        guard let data = data?.arrayValue else { throw Self.bad("missing array \"data\"", path) }
        var agents: [(id: Int64, groups: [String])] = []
        agents.reserveCapacity(data.count)
        for (index, item) in data.enumerated() {
            guard let id = item["id"]?.intValue else { throw Self.bad("data[\(index)] has no integer \"id\"", path) }
            var groups: [String] = []
            for g in item["groups"]?.arrayValue ?? [] {
                guard let name = g.stringValue, !name.isEmpty else {
                    throw Self.bad("agent \(id) has a group that is not a non-empty string", path)
                }
                groups.append(name)
            }
            agents.append((id, groups))
        }
        self.mode = mode
        self.syncStatus = status
        self.agents = agents
    }

    private static func bad(_ what: String, _ path: String) -> StoreError {
        StoreError(.invalidInput, path: path, "set-agent-groups: \(what)")
    }
}
