import CSQLite

/// The store behind wazuh-db's text interface (PROTOCOL.md §6.1): a query such as
/// `global sync-agent-groups-get {"condition":"all",…}` in, `"<ok|due|err> <payload>"` out. The daemon's
/// sync tasks can hand over the `set_data_command` and chunks they receive, and answer with the same
/// success and error texts a 4.8.1 peer expects from wazuh-db.
extension AgentStore {
    /// wazuh-db's answer to a `set-agent-groups` naming an agent it does not have. 4.8.1's worker reports it
    /// as "Error 2003 - Error in wazuhdb request: An error occurred during the set of the groups".
    public static let setGroupsError = "An error occurred during the set of the groups"
    /// wazuh-db's answer when agent-info names an agent it does not have; 4.8.1's master ignores it.
    public static let foreignKeyError = "Cannot execute Global database query; FOREIGN KEY constraint failed"

    /// Runs one wazuh-db global query and returns the response text. Never throws: failures are
    /// `err <message>`, as wazuh-db answers them. Pages of the sync commands stay under `maxResponseBytes`
    /// (wazuh-db's own ceiling is 64 KiB less its 512-byte command reserve).
    public func wazuhDB(_ query: String, maxResponseBytes: Int = 6_291_456) -> String {
        var rest = Substring(query)
        if rest.hasPrefix("global ") { rest = rest.dropFirst("global ".count) }
        let space = rest.firstIndex(of: " ") ?? rest.endIndex
        let command = String(rest[..<space])
        let argument = space < rest.endIndex ? String(rest[rest.index(after: space)...]) : ""
        do {
            switch command {
            case "sync-agent-info-get":
                let r = try syncAgentInfoGet(maxResponseBytes: maxResponseBytes)
                return "\(r.status) \(r.payload)"
            case "sync-agent-info-set":
                let r = try syncAgentInfoSet(argument)
                return r.foreignKeyErrors > 0 ? "err \(Self.foreignKeyError)" : "ok"
            case "sync-agent-groups-get":
                let o = try GroupsGetOptions(argument, path: path)
                let r = try syncAgentGroupsGet(condition: o.condition, setSynced: o.setSynced,
                                               getGlobalHash: o.getGlobalHash, lastID: o.lastID, maxResponseBytes: maxResponseBytes)
                return "\(r.status) \(r.payload)"
            case "set-agent-groups":
                let r = try setAgentGroups(GroupsRequest(argument, path: path))
                return r.missing > 0 ? "err \(Self.setGroupsError)" : "ok"
            case "recalculate-agent-group-hashes":
                try recalculateAgentGroupHashes()
                return "ok"
            case "sql":
                return "ok " + (try executeSQL(argument))
            case "insert-agent-group":
                try createGroup(argument)
                return "ok"
            case "delete-group":
                try deleteGroup(argument)
                return "ok"
            case "delete-agent":
                guard let id = Int(argument) else { return "err Invalid agent ID '\(argument.prefix(20))'" }
                try deleteAgent(id: id)
                return "ok"
            default:
                return "err Invalid DB query syntax, near '\(command.prefix(50))'"
            }
        } catch {
            return "err \(error.description)"
        }
    }
}

extension AgentStore {
    /// wazuh-db's `global sql`: runs one statement and answers its rows as a compact JSON list of objects
    /// keyed by column name, NULL columns left out (`[]` for a statement without rows).
    func executeSQL(_ sql: String) throws(StoreError) -> String {
        try locked { (s: inout State) throws(StoreError) -> String in
            try Self.withStatement(s.db, sql, []) { (stmt: SQLiteStatement) throws(StoreError) -> String in
                var out: [UInt8] = [UInt8(ascii: "[")]
                var names: [[UInt8]]?
                while try stmt.step() {
                    if names == nil {
                        let count = Int(sqlite3_column_count(stmt.raw))
                        names = (0..<count).map { i in
                            var key: [UInt8] = []
                            var name = stmt.columnName(i)
                            name.withUTF8 { PythonJSONEncoder.writeString(utf8: $0, ensureASCII: false, into: &key) }
                            return key + [UInt8(ascii: ":")]
                        }
                    }
                    if out.count > 1 { out.append(UInt8(ascii: ",")) }
                    out.append(UInt8(ascii: "{"))
                    var first = true
                    for (i, key) in names!.enumerated() where !stmt.isNull(i) {
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        out += key
                        _ = stmt.appendJSON(i, into: &out)
                    }
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: "]"))
                return String(decoding: out, as: UTF8.self)
            }
        }
    }
}

/// The JSON argument of `sync-agent-groups-get`.
struct GroupsGetOptions {
    var condition: AgentStore.GroupsCondition?
    var setSynced = false
    var getGlobalHash = false
    var lastID = 0

    init(_ json: String, path: String) throws(StoreError) {
        func bad(_ what: String) -> StoreError { StoreError(.invalidInput, path: path, "sync-agent-groups-get: \(what)") }
        let root: JSONValue
        do { root = try JSONParser.parse(json.isEmpty ? "{}" : json) } catch { throw bad(error.description) }
        guard root.objectValue != nil else { throw bad("the argument is not a JSON object") }
        if let c = root["condition"] {
            guard let text = c.stringValue, let condition = AgentStore.GroupsCondition(rawValue: text) else {
                throw bad("condition must be \"sync_status\" or \"all\"")
            }
            self.condition = condition
        }
        for (key, target) in [("set_synced", \GroupsGetOptions.setSynced), ("get_global_hash", \.getGlobalHash)] {
            guard let v = root[key] else { continue }
            guard let b = v.boolValue else { throw bad("\"\(key)\" must be true or false") }
            self[keyPath: target] = b
        }
        if let v = root["last_id"] {
            guard let id = v.intValue, id >= 0 else { throw bad("\"last_id\" must be a non-negative integer") }
            lastID = Int(id)
        }
    }
}
