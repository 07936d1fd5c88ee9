/// The agent-info commands written the plain way, over `JSONValue`: the reference the fast paths in
/// AgentStore+AgentInfo.swift are tested against, and the path a chunk takes when the fast set gives up
/// (anything unusual or wrong in it), so its result and error texts stay the ones documented there.
extension AgentStore {
    /// `syncAgentInfoGet` built row by row as JSONValue; tests compare its text with the fast one's.
    func syncAgentInfoGetReference(maxResponseBytes: Int = 6_291_456) throws(StoreError) -> (status: String, payload: String) {
        try locked { (s: inout State) throws(StoreError) -> (status: String, payload: String) in
            let budget = maxResponseBytes - "due ".utf8.count
            var out: [UInt8] = [UInt8(ascii: "[")]
            var returned: [Int] = []
            var last = s.agentInfoLastID
            var full = false
            let select = "SELECT \(Self.agentInfoColumns.joined(separator: ", ")) FROM agent "
                + "WHERE sync_status = 'syncreq' AND id > ? ORDER BY id LIMIT 500"
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

    /// `syncAgentInfoSet` over the parsed chunk, with the checks in their documented order.
    func syncAgentInfoSetReference(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) {
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
        let update = Self.agentInfoUpdate
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
                    try s.db.run(Self.agentInfoDeleteLabels, [.int(id)])
                    for label in object["labels"]?.arrayValue ?? [] {
                        guard let key = label["key"]?.stringValue else {
                            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: agent \(id) has a label without a string \"key\"")
                        }
                        let value = try Self.sqlValue(label["value"], key: "labels.value", id: id, path: path)
                        try s.db.run(Self.agentInfoInsertLabel, [.int(id), .text(key), value == .null ? .text("") : value])
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
        case .array?, .object?, .raw?:
            throw StoreError(.invalidInput, path: path, "sync-agent-info-set: agent \(id) has a non-scalar \"\(key)\"")
        }
    }
}
