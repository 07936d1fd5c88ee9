/// Agent-info sync (PROTOCOL.md §6): a worker reads the rows its agents changed with
/// `sync-agent-info-get`, the master writes them with `sync-agent-info-set`.
extension AgentStore {
    /// The columns of an agent-info row, in the key order wazuh-db prints them.
    static let agentInfoColumns = [
        "id", "name", "ip", "os_name", "os_version", "os_major", "os_minor", "os_codename", "os_build",
        "os_platform", "os_uname", "os_arch", "version", "config_sum", "merged_sum", "manager_host", "node_name",
        "last_keepalive", "connection_status", "disconnection_time", "group_config_status", "status_code",
    ]
    /// Columns that are NOT NULL in the table: a row that omits them keeps the stored value.
    static let agentInfoRequired: Set<String> = ["name", "connection_status", "group_config_status"]
    /// Agents read per query while filling a response.
    static let agentInfoBatch = 500

    /// wazuh-db's encoder: compact, UTF-8 left as is (cJSON does not escape non-ASCII).
    static let wdbJSON = PythonJSONEncoder(compact: true, ensureASCII: false)

    /// `global sync-agent-info-get`: the agents (id > 0) with `sync_status = 'syncreq'` as a compact JSON
    /// array, NULL columns omitted, `labels` added when the agent has any. Returned rows become `synced`.
    /// The status is "due" when the next agent would push the response (with its status word) past
    /// `maxResponseBytes`; the next call continues after the last id returned, and an "ok" call restarts
    /// from the beginning. An agent too large for the limit on its own is still returned, alone, so the
    /// loop always progresses.
    public func syncAgentInfoGet(maxResponseBytes: Int = 6_291_456) throws(StoreError) -> (status: String, payload: String) {
        try locked { (s: inout State) throws(StoreError) -> (status: String, payload: String) in
            let budget = maxResponseBytes - "due ".utf8.count
            var out: [UInt8] = [UInt8(ascii: "[")]
            var returned: [Int] = []
            var last = s.agentInfoLastID
            var full = false
            let select = "SELECT \(Self.agentInfoColumns.joined(separator: ", ")) FROM agent "
                + "WHERE sync_status = 'syncreq' AND id > ? ORDER BY id LIMIT \(Self.agentInfoBatch)"
            fill: while true {
                let rows = try Self.agentInfoRows(s.db, select: select, after: last)
                if rows.isEmpty { break }
                for (id, fields) in rows {
                    var row = fields
                    let labels = try Self.labels(s.db, id: id)
                    if !labels.isEmpty { row["labels"] = .array(labels) }
                    let text = Self.wdbJSON.encodeBytes(.object(row))
                    let separator = returned.isEmpty ? 0 : 1
                    if out.count + separator + text.count + 1 > budget && !returned.isEmpty {
                        full = true
                        break fill
                    }
                    if separator == 1 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: text)
                    returned.append(id)
                    last = id
                }
            }
            out.append(UInt8(ascii: "]"))
            try s.db.transaction { () throws(StoreError) in
                for id in returned {
                    try s.db.run("UPDATE agent SET sync_status = 'synced' WHERE id = ?", [.int(Int64(id))])
                }
            }
            s.agentInfoLastID = full ? last : 0
            return (full ? "due" : "ok", String(decoding: out, as: UTF8.self))
        }
    }

    private static func agentInfoRows(_ db: SQLiteConnection, select: String, after id: Int)
        throws(StoreError) -> [(Int, JSONObject)]
    {
        let stmt = try db.statement(select)
        try stmt.bind([.int(Int64(id))])
        var rows: [(Int, JSONObject)] = []
        while try stmt.step() {
            var row = JSONObject()
            for (i, column) in agentInfoColumns.enumerated() {
                if let value = stmt.json(i) { row[column] = value }
            }
            rows.append((stmt.int(0) ?? 0, row))
        }
        return rows
    }

    /// An agent's labels as wazuh-db prints them: `{"id":N,"key":"…","value":"…"}`.
    private static func labels(_ db: SQLiteConnection, id: Int) throws(StoreError) -> [JSONValue] {
        let stmt = try db.statement("SELECT id, key, value FROM labels WHERE id = ? ORDER BY key")
        try stmt.bind([.int(Int64(id))])
        var out: [JSONValue] = []
        while try stmt.step() {
            out.append(.object(JSONObject([("id", stmt.json(0) ?? .null), ("key", stmt.json(1) ?? .null),
                                           ("value", stmt.json(2) ?? .null)])))
        }
        return out
    }

    /// `global sync-agent-info-set <chunk>`: writes each agent's columns by id (a key that is absent or
    /// null stores NULL, except that the NOT NULL columns keep their value), forces `sync_status = 'synced'`,
    /// and replaces the agent's labels with the chunk's `labels` (none when absent, mirroring the get side,
    /// which omits the key for an agent without labels). Agents are only updated, never created: an id the
    /// database lacks (deleted meanwhile, or 0, the manager row no peer owns) is counted in
    /// `foreignKeyErrors`, the case 4.8.1's master ignores. The chunk is applied in one transaction.
    public func syncAgentInfoSet(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) {
        let agents: [JSONValue]
        do {
            guard let array = try JSONParser.parse(chunk).arrayValue else {
                throw StoreError(.invalidInput, path: path, "sync-agent-info-set: the chunk is not a JSON array")
            }
            agents = array
        } catch let e as JSONParseError {
            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: \(e.description)")
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: \(error)")
        }
        let columns = Self.agentInfoColumns.dropFirst()
        let assignments = columns.map { c in
            Self.agentInfoRequired.contains(c) ? "\(c) = COALESCE(?, \(c))" : "\(c) = ?"
        }
        let update = "UPDATE agent SET \(assignments.joined(separator: ", ")), sync_status = 'synced' WHERE id = ?"
        let path = self.path
        return try locked { (s: inout State) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) in
            try s.db.transaction { () throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) in
                var updated = 0
                var missing = 0
                for (index, agent) in agents.enumerated() {
                    guard let object = agent.objectValue, let id = object["id"]?.intValue else {
                        throw StoreError(.invalidInput, path: path,
                                         "sync-agent-info-set: element \(index) is not an object with an integer \"id\"")
                    }
                    var values: [SQLValue] = []
                    for column in columns {
                        values.append(try Self.sqlValue(object[column], key: column, id: id, path: path))
                    }
                    values.append(.int(id))
                    guard id > 0, try s.db.run(update, values) == 1 else {
                        missing += 1
                        continue
                    }
                    try s.db.run("DELETE FROM labels WHERE id = ?", [.int(id)])
                    for label in object["labels"]?.arrayValue ?? [] {
                        guard let key = label["key"]?.stringValue else {
                            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: agent \(id) has a label without a string \"key\"")
                        }
                        let value = try Self.sqlValue(label["value"], key: "labels.value", id: id, path: path)
                        try s.db.run("INSERT OR REPLACE INTO labels (id, key, value) VALUES (?, ?, ?)",
                                     [.int(id), .text(key), value == .null ? .text("") : value])
                    }
                    updated += 1
                }
                return (updated, missing)
            }
        }
    }

    /// A JSON scalar as the value wazuh-db binds for it.
    private static func sqlValue(_ value: JSONValue?, key: String, id: Int64, path: String) throws(StoreError) -> SQLValue {
        switch value {
        case nil, .null?: return .null
        case .string(let s)?: return .text(s)
        case .int(let i)?: return .int(i)
        case .double(let d)?: return .double(d)
        case .bool(let b)?: return .int(b ? 1 : 0)
        case .array?, .object?:
            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: agent \(id) has a non-scalar \"\(key)\"")
        }
    }
}
