import Foundation

/// The agent database of a Wazuh manager: wazuh-db's global database reached over `queue/db/wdb`, with
/// the commands 4.8.1's cluster sends (PROTOCOL.md §6.1, LOCAL-DAPI-CONTROL.md §6). The node never opens
/// `global.db` itself: wazuh-db owns it.
///
/// - The sync commands go as they are (`sync-agent-info-get/set`, `sync-agent-groups-get`,
///   `set-agent-groups`, `recalculate-agent-group-hashes`); `err` answers become `.wazuhDB` errors with
///   wazuh-db's text, except the FOREIGN KEY one of agent-info, which 4.8.1 ignores and is counted.
/// - Reads are `global sql` SELECTs, paged with LIMIT/OFFSET in slices of 500 rows as the framework pages
///   them; a slice whose answer is over the 64 KiB ceiling (2009) is asked again in halves.
/// - Writes are `global sql` statements where one statement does it (as wazuh-db's own C clients send
///   them) and `set-agent-groups`, `insert-agent-group`, `delete-group`, `delete-agent` otherwise.
/// - `client.keys` is not loaded here: on a manager wazuh-modulesd keeps the table in step with it.
public final class WazuhDBBackend: AgentBackend {
    public let client: WazuhDBClient
    public let nodeName: String

    public init(client: WazuhDBClient, nodeName: String) {
        self.client = client
        self.nodeName = nodeName
    }

    public var backendDescription: String { "wazuh-db at \(client.path)" }
    public var syncsClientKeys: Bool { false }
    var path: String { client.path }

    /// The framework's slice of rows per `global sql` SELECT.
    static let rowsPerQuery = 500

    // MARK: Sync commands

    public func syncAgentInfoGet(maxResponseBytes: Int, deliver: (_ status: String, _ payload: String) -> Void) throws(StoreError) {
        let answer = try client.query("global sync-agent-info-get {}", retryIfUnsent: true)
        guard answer.status != .err else { throw StoreError(.wazuhDB, path: path, answer.payload) }
        deliver(answer.status.rawValue, answer.payload)
    }

    public func syncAgentInfoSet(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) {
        let answer = try client.query("global sync-agent-info-set " + chunk)
        switch answer.status {
        case .err where answer.payload.contains(AgentStore.foreignKeyError): return (0, 1)
        case .err: throw StoreError(.wazuhDB, path: path, answer.payload)
        default: return (1, 0)
        }
    }

    public func syncAgentGroupsGet(condition: GroupsCondition?, setSynced: Bool, getGlobalHash: Bool, lastID: Int,
                                   maxResponseBytes: Int) throws(StoreError) -> (status: String, payload: String) {
        var fields: [(String, JSONValue)] = []
        if let condition { fields.append(("condition", .string(condition.rawValue))) }
        fields += [("set_synced", .bool(setSynced)), ("get_global_hash", .bool(getGlobalHash))]
        if lastID > 0 || condition == .all { fields.append(("last_id", .int(Int64(lastID)))) }
        // 4.8.1's spacing: json.dumps defaults.
        let answer = try client.query("global sync-agent-groups-get " + JSONValue.object(JSONObject(fields)).pythonText)
        guard answer.status != .err else { throw StoreError(.wazuhDB, path: path, answer.payload) }
        return (answer.status.rawValue, answer.payload)
    }

    public func setAgentGroups(_ json: String) throws(StoreError) -> Int {
        let request = try GroupsRequest(json, path: path)
        _ = try client.ok("global set-agent-groups " + json)
        return request.agents.count
    }

    public func overrideAgentGroups(data: JSONValue, syncStatus: String) throws(StoreError) -> Int {
        let request = try GroupsRequest(mode: .override, syncStatus: syncStatus, data: data, path: path)
        let command: JSONValue = ["mode": "override", "sync_status": .string(syncStatus), "data": data]
        _ = try client.ok("global set-agent-groups " + command.compactText)
        return request.agents.count
    }

    public func recalculateAgentGroupHashes() throws(StoreError) {
        _ = try client.ok("global recalculate-agent-group-hashes")
    }

    public func globalGroupHash() throws(StoreError) -> String? {
        let payload = try client.ok(#"global sync-agent-groups-get {"get_global_hash": true}"#)
        guard let value = try? JSONParser.parse(payload), let last = value.arrayValue?.last else {
            throw StoreError(.wazuhDB, path: path, "sync-agent-groups-get answered something that is not a JSON list: \(payload.prefix(80))")
        }
        return last["hash"]?.stringValue
    }

    public func checkpoint() throws(StoreError) {}

    public func loadClientKeys(_ entries: [(id: Int, name: String, ip: String, key: String)]) throws(StoreError) -> (inserted: Int, deleted: Int) {
        (0, 0)
    }

    // MARK: Writes

    public func insertAgent(id: Int, name: String, ip: String, key: String, groups: [String], groupSyncStatus: String,
                            dateAdd: Int) throws(StoreError) {
        guard id > 0 else { throw StoreError(.invalidInput, path: path, "insert agent: id \(id) is not positive (0 is the manager)") }
        guard !name.isEmpty else { throw StoreError(.invalidInput, path: path, "insert agent \(id): empty name") }
        guard SyncStatus.all.contains(groupSyncStatus) else {
            throw StoreError(.invalidInput, path: path, "insert agent \(id): group sync status \"\(groupSyncStatus)\" is not synced or syncreq")
        }
        guard try agent(id: id) == nil else {
            throw StoreError(.conflict, path: path, "insert agent: id \(ClientKeys.paddedID(id)) already exists")
        }
        _ = try client.ok("global sql " + WazuhDBSQL.inline(
            "INSERT INTO agent (id, name, register_ip, internal_key, date_add, `group`) VALUES (?, ?, ?, ?, ?, NULL)",
            [.int(Int64(id)), .text(name), .text(ip), .text(key), .int(Int64(dateAdd))]))
        guard !groups.isEmpty else { return }
        do {
            try writeGroups([(id, groups)], syncStatus: groupSyncStatus)
        } catch {
            // Half a registration is none: the row goes again.
            _ = try? client.ok("global delete-agent \(id)")
            throw error
        }
    }

    public func deleteAgent(id: Int) throws(StoreError) {
        guard id > 0 else { throw StoreError(.invalidInput, path: path, "delete agent: id \(id) is the manager or invalid") }
        guard try agent(id: id) != nil else {
            throw StoreError(.notFound, path: path, "delete agent: no agent with id \(ClientKeys.paddedID(id))")
        }
        _ = try client.ok("global delete-agent \(id)")
    }

    public func nextFreeID() throws(StoreError) -> Int { try AgentReads.nextFreeID(reader) }

    public func createGroup(_ name: String) throws(StoreError) {
        guard !name.isEmpty else { throw StoreError(.invalidInput, path: path, "create group: empty name") }
        guard try groupCounts()[name] == nil else { return }
        _ = try client.ok("global insert-agent-group " + name)
    }

    @discardableResult
    public func deleteGroup(_ name: String) throws(StoreError) -> [Int] {
        var members: [Int] = []
        try AgentReads.all(reader, """
            SELECT b.id_agent AS c0 FROM belongs b JOIN `group` g ON g.id = b.id_group WHERE g.name = ? ORDER BY b.id_agent
            """, [.text(name)]) { (row: WazuhDBRow) throws(StoreError) in members.append(row.int(0) ?? 0) }
        let current = try groups(ofAgents: members)
        var changes: [(Int, [String])] = []
        for id in members {
            let kept = (current[id] ?? []).filter { $0 != name }
            changes.append((id, kept.isEmpty && name != AgentStore.defaultGroup ? [AgentStore.defaultGroup] : kept))
        }
        try writeGroups(changes, syncStatus: "syncreq")
        _ = try client.ok("global delete-group " + name)
        return members
    }

    @discardableResult
    public func setGroups(agent id: Int, _ groups: [String]) throws(StoreError) -> Bool {
        guard try !existingIDs([id]).isEmpty else { return false }
        try writeGroups([(id, groups)], syncStatus: "syncreq")
        return true
    }

    public func updateGroups(agents ids: [Int], _ groupsFor: (Int, [String]) -> [String]?) throws(StoreError) -> [Int] {
        let current = try groups(ofAgents: ids)
        var changes: [(Int, [String])] = []
        for id in ids {
            guard let groups = current[id], let final = groupsFor(id, groups) else { continue }
            changes.append((id, final))
        }
        try writeGroups(changes, syncStatus: "syncreq")
        return changes.map(\.0)
    }

    /// `set-agent-groups` in override mode, split so each command stays under wazuh-db's query limit.
    func writeGroups(_ changes: [(Int, [String])], syncStatus: String) throws(StoreError) {
        var batch: [JSONValue] = []
        var size = 0
        func flush() throws(StoreError) {
            guard !batch.isEmpty else { return }
            let command: JSONValue = ["mode": "override", "sync_status": .string(syncStatus), "data": .array(batch)]
            _ = try client.ok("global set-agent-groups " + command.compactText)
            batch = []
            size = 0
        }
        for (id, groups) in changes {
            let item: JSONValue = ["id": .int(Int64(id)), "groups": .array(groups.map { .string($0) })]
            let length = item.compactText.utf8.count + 1
            if size + length > WazuhDBClient.maxQueryBytes - 200 { try flush() }
            batch.append(item)
            size += length
        }
        try flush()
    }

    // MARK: Reads

    var reader: WazuhDBReader { WazuhDBReader(client: client) }

    public func agent(id: Int) throws(StoreError) -> AgentRecord? { try AgentReads.agent(reader, id: id) }
    public func agents(nodeNames: [String]?, statuses: [String]?) throws(StoreError) -> [AgentRecord] {
        try AgentReads.agents(reader, nodeNames: nodeNames, statuses: statuses)
    }
    public func countActive(nodeName: String) throws(StoreError) -> Int { try AgentReads.countActive(reader, nodeName: nodeName) }
    public func listAgents(_ query: CompiledAgentQuery) throws(StoreError) -> AgentListing { try AgentReads.listAgents(reader, query) }
    public func existingIDs(_ ids: [Int]) throws(StoreError) -> Set<Int> { try AgentReads.existingIDs(reader, ids) }
    public func summaryCounts() throws(StoreError) -> (connection: [String: Int], configuration: [String: Int]) {
        try AgentReads.summaryCounts(reader)
    }
    public func agentNodes(ids: [Int]?, nodeNames: [String]?) throws(StoreError) -> [(id: Int, node: String)] {
        try AgentReads.agentNodes(reader, ids: ids, nodeNames: nodeNames)
    }
    public func agentNodeNames() throws(StoreError) -> [String] { try AgentReads.agentNodeNames(reader) }
    public func countsByNodeAndStatus() throws(StoreError) -> [(node: String, status: String, count: Int)] {
        try AgentReads.countsByNodeAndStatus(reader)
    }
    public func groupCounts() throws(StoreError) -> [String: Int] { try AgentReads.groupCounts(reader) }
    public func groups(ofAgents ids: [Int]) throws(StoreError) -> [Int: [String]] { try AgentReads.groups(reader, ofAgents: ids) }
}

/// A row of a `global sql` answer: the object's `cN` keys by index; a column wazuh-db left out is NULL.
struct WazuhDBRow: AgentRow {
    var values: [JSONValue?]

    init(_ object: JSONValue) {
        var values: [JSONValue?] = []
        for (key, value) in object.objectValue ?? JSONObject() {
            guard key.first == "c", let i = Int(key.dropFirst()), i >= 0, i < 256 else { continue }
            if values.count <= i { values += Array(repeating: nil, count: i + 1 - values.count) }
            values[i] = value == .null ? nil : value
        }
        self.values = values
    }

    private func value(_ i: Int) -> JSONValue? { i < values.count ? values[i] : nil }

    func isNull(_ i: Int) -> Bool { value(i) == nil }

    func int(_ i: Int) -> Int? {
        switch value(i) {
        case .int(let n)?: return Int(n)
        case .double(let d)?: return d.isFinite ? Int(d) : nil
        case .string(let s)?: return Int(s)
        default: return nil
        }
    }

    func text(_ i: Int) -> String? {
        switch value(i) {
        case .string(let s)?: return s
        case .int(let n)?: return String(n)
        case .double(let d)?: return PythonJSONEncoder.pythonFloat(d)
        default: return nil
        }
    }

    func appendJSONString(_ i: Int, into out: inout [UInt8]) {
        var s = text(i) ?? ""
        s.withUTF8 { PythonJSONEncoder.writeString(utf8: $0, ensureASCII: true, into: &out) }
    }
}

/// The read queries over `global sql`.
struct WazuhDBReader: AgentSQLReader {
    let client: WazuhDBClient

    func rows(_ sql: String, _ values: [SQLValue], offset: Int, limit: Int?,
              _ each: (WazuhDBRow) throws(StoreError) -> Void) throws(StoreError) {
        let text = WazuhDBSQL.inline(sql, values)
        var step = WazuhDBBackend.rowsPerQuery
        var done = 0
        while limit.map({ done < $0 }) ?? true {
            let n = min(step, limit.map { $0 - done } ?? step)
            let payload: String
            switch Result(catching: { () throws(StoreError) -> String in
                try client.ok("global sql \(text) LIMIT \(n) OFFSET \(offset + done)")
            }) {
            case .success(let text): payload = text
            case .failure(let error) where error.kind == .responseTooLarge && n > 1:
                step = max(1, n / 2)  // the framework's answer to 2009: smaller slices
                continue
            case .failure(let error): throw error
            }
            guard let rows = (try? JSONParser.parse(payload))?.arrayValue else {
                throw StoreError(.wazuhDB, path: client.path, "global sql answered something that is not a JSON list: \(payload.prefix(80))")
            }
            for row in rows { try each(WazuhDBRow(row)) }
            done += rows.count
            if rows.count < n { break }
        }
    }

    func consistently<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T { try body() }
}

/// SQL text for wazuh-db, which takes no bound parameters: values are written into the statement as
/// SQLite literals (text quoted with `'` doubled, so no value can end its literal).
enum WazuhDBSQL {
    static func literal(_ value: SQLValue) -> String {
        switch value {
        case .null: return "NULL"
        case .int(let n): return String(n)
        case .double(let d): return d.isFinite ? "\(d)" : "NULL"
        case .text(let s): return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
        }
    }

    /// `sql` with each `?` outside quotes replaced by the next value.
    static func inline(_ sql: String, _ values: [SQLValue]) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + values.count * 8)
        var next = 0
        var quote: Character?
        for c in sql {
            if let q = quote {
                out.append(c)
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" || c == "`" {
                quote = c
                out.append(c)
            } else if c == "?" && next < values.count {
                out += literal(values[next])
                next += 1
            } else {
                out.append(c)
            }
        }
        return out
    }
}
