import Common
import Foundation

/// `add_agent` and `delete_agents`: through the master's registration service (authd's JSON `add` and
/// `remove`), so `client.keys` and the database change together. Without one (a worker) they are
/// `WazuhError(1726)`, as 4.8.1 answers without authd.
enum DapiAgentRegistration {
    static func authd(_ call: DapiCall, _ function: String, _ arguments: JSONObject) async throws(WazuhException) -> JSONValue {
        guard let registration = call.env.registration else { throw .error(1726) }
        let request = JSONValue.object(JSONObject([("function", .string(function)), ("arguments", .object(arguments))]))
        let reply = await registration(Array(request.compactText.utf8))
        guard let json = try? JSONParser.parse(Array(reply.utf8)), json["error"]?.intValue != nil else {
            throw .internal(1000, "the registration service answered something that is not authd JSON: \(reply.prefix(200))")
        }
        return json
    }

    /// `wazuh.agent.delete_agents`: each listed agent (nil: all but the manager) that exists and passes
    /// `filters` (`status`, `older_than`, …) and `q` is removed by authd. The manager is 1703, a missing
    /// agent 1701, one the filters leave out 1731, an authd refusal 1757.
    static func deleteAgents(_ call: DapiCall) async throws(WazuhException) -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected agents were deleted", someMsg: "Some agents were not deleted",
                                   noneMsg: "No agents were deleted")
        guard call.env.registration != nil else { throw .error(1726) }
        let store = call.env.store
        var query = try DapiAgentSupport.query(call, defaultLimit: nil)
        query.select = ["id"]
        query.offset = 0
        query.limit = nil
        query.excludeManager = true
        var listed: [(text: String, id: Int)]? = nil
        if let list = try call.stringList("agent_list") {
            var ids: [(text: String, id: Int)] = []
            for text in list {
                guard let id = DapiAgentSupport.agentID(text) else { result.addFailed(id: text, error: .notFound(1701)); continue }
                if id == 0 { result.addFailed(id: text, error: .error(1703)); continue }
                ids.append((text, id))
            }
            listed = ids
            query.ids = ids.map(\.id)
        }
        let compiled = try query.compile()
        let eligible = try DapiAgentSupport.store { () throws(StoreError) in try store.listAgents(compiled) }.items
            .compactMap { $0["id"]?.stringValue.flatMap(DapiAgentSupport.agentID) }
        let eligibleSet = Set(eligible)
        var toDelete: [(text: String, id: Int)] = []
        if let listed {
            let existing = try DapiAgentSupport.store { () throws(StoreError) in try store.existingIDs(listed.map(\.id)) }
            for (text, id) in listed {
                if !existing.contains(id) { result.addFailed(id: text, error: .notFound(1701)) }
                else if !eligibleSet.contains(id) { result.addFailed(id: text, error: .error(1731)) }
                else if !toDelete.contains(where: { $0.id == id }) { toDelete.append((text, id)) }
            }
        } else {
            toDelete = eligible.map { (ClientKeys.paddedID($0), $0) }
        }
        let purge = try call.bool("purge") ?? false
        for (text, id) in toDelete {
            let reply = try await authd(call, "remove", JSONObject([("id", .string(ClientKeys.paddedID(id))), ("purge", .bool(purge))]))
            if reply["error"]?.intValue == 0 {
                result.affectedItems.append(.string(ClientKeys.paddedID(id)))
            } else {
                let message = reply["message"]?.stringValue ?? reply.compactText
                result.addFailed(id: text, error: .error(1757, message))
            }
        }
        result.affectedItems.sort { ($0.stringValue ?? "") < ($1.stringValue ?? "") }
        result.totalAffectedItems = result.affectedItems.count
        if let olderThan = try call.object("filters")?["older_than"] { result.dikt["older_than"] = olderThan }
        return .affected(result)
    }

    /// `wazuh.agent.add_agent`: `{"data": {"id", "key"}}`, the key being base64 of
    /// `"<id> <name> <ip> <key>"` as agents import it. authd's refusals map to 1705 (name), 1706 (IP),
    /// 1710 (groups) and 1725 (anything else, with authd's message).
    static func addAgent(_ call: DapiCall) async throws(WazuhException) -> DapiOutcome {
        guard let name = try call.string("name"), !name.isEmpty else { throw call.badArgument("name", "a non-empty string") }
        guard name.utf8.count <= 128 else { throw .error(1738) }
        var arguments = JSONObject([("name", .string(name)), ("ip", .string(try call.string("ip") ?? "any"))])
        if let id = try call.string("agent_id") { arguments["id"] = .string(id) }
        if let key = try call.string("key") { arguments["key"] = .string(key) }
        if let groups = try call.stringList("groups") { arguments["groups"] = .string(groups.joined(separator: ",")) }
        if let force = try call.object("force") { arguments["force"] = .object(force) }
        let reply = try await authd(call, "add", arguments)
        switch reply["error"]?.intValue ?? -1 {
        case 0:
            guard let data = reply["data"], let id = data["id"]?.stringValue, let key = data["key"]?.stringValue else {
                throw .internal(1000, "authd's add reply has no id and key: \(reply.compactText.prefix(200))")
            }
            let ip = data["ip"]?.stringValue ?? "any"
            let line = "\(id) \(data["name"]?.stringValue ?? name) \(ip) \(key)"
            return .result(WazuhResultValue(JSONObject([("data", .object(JSONObject([
                ("id", .string(id)), ("key", .string(Data(line.utf8).base64EncodedString())),
            ])))])))
        case 9008: throw .error(1705, name)
        case 9007: throw .error(1706, try call.string("ip") ?? "any")
        case 9014: throw .notFound(1710, reply["message"]?.stringValue)
        default: throw .error(1725, reply["message"]?.stringValue ?? reply.compactText)
        }
    }
}
