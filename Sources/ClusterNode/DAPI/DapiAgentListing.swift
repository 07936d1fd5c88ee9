import Common
import Foundation

/// The reading functions: `get_agents`, `get_agents_in_group`, `get_agents_summary_status`,
/// `get_agents_keys` and `Agent.get_agents_overview`.
enum DapiAgentListing {
    static func agentsResult() -> AffectedItems {
        AffectedItems(allMsg: "All selected agents information was returned", someMsg: "Some agents information was not returned",
                      noneMsg: "No agent information was returned")
    }

    /// Restricts `query` to `agent_list`, adding a 1701 failed item for every id the database lacks.
    /// Returns false when no listed agent exists (nothing left to query).
    static func restrict(_ query: inout AgentQuery, to list: [String]?, store: any AgentBackend, result: inout AffectedItems)
        throws(WazuhException) -> Bool
    {
        guard let list else { return true }
        let parsed = list.compactMap(DapiAgentSupport.agentID)
        let existing = try DapiAgentSupport.store { () throws(StoreError) in try store.existingIDs(parsed) }
        for id in list where DapiAgentSupport.agentID(id).map({ !existing.contains($0) }) ?? true {
            result.addFailed(id: id, error: .notFound(1701))
        }
        query.ids = existing.sorted()
        return !existing.isEmpty
    }

    /// The listed agents of `query` (restricted to `agent_list`, whose missing ids become failed items).
    static func page(_ q: AgentQuery, _ call: DapiCall, into r: AffectedItems) throws(WazuhException) -> DapiOutcome {
        var (query, result) = (q, r)
        guard try restrict(&query, to: call.stringList("agent_list"), store: call.env.store, result: &result) else {
            return .affected(result)
        }
        let compiled = try query.compile()
        let listing = try DapiAgentSupport.store { () throws(StoreError) in try call.env.store.listAgents(compiled) }
        result.affectedItems = listing.items
        result.totalAffectedItems = listing.total
        return .affected(result)
    }

    /// `wazuh.agent.get_agents`.
    static func getAgents(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        let query = try DapiAgentSupport.query(call)
        _ = try query.compile()  // a bad request is an error even when no listed agent exists
        return try page(query, call, into: agentsResult())
    }

    /// `wazuh.agent.get_agents_in_group`: `get_agents` of the members of `group_list[0]`; a group that
    /// does not exist is `WazuhResourceNotFound(1710)`.
    static func getAgentsInGroup(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        guard let group = try call.stringList("group_list")?.first else { throw call.badArgument("group_list", "a list with one group") }
        guard DapiAgentSupport.groupExists(call.env, group) else { throw .notFound(1710, group) }
        var query = try DapiAgentSupport.query(call)
        query.filters.append(("group", [group]))
        return try page(query, call, into: agentsResult())
    }

    /// `wazuh.agent.get_agents_summary_status`: agents (not the manager) by connection status and by
    /// group configuration status.
    static func getAgentsSummaryStatus(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        let counts = try DapiAgentSupport.store { () throws(StoreError) in try call.env.store.summaryCounts() }
        let c = counts.connection
        let total = c.values.reduce(0, +)
        let connection = JSONObject([
            ("active", .int(Int64(c["active"] ?? 0))), ("disconnected", .int(Int64(c["disconnected"] ?? 0))),
            ("never_connected", .int(Int64(c["never_connected"] ?? 0))), ("pending", .int(Int64(c["pending"] ?? 0))),
            ("total", .int(Int64(total))),
        ])
        let g = counts.configuration
        let configuration = JSONObject([
            ("synced", .int(Int64(g["synced"] ?? 0))), ("total", .int(Int64(g.values.reduce(0, +)))),
            ("not_synced", .int(Int64(g["not synced"] ?? 0))),
        ])
        return .result(WazuhResultValue(JSONObject([("data", .object(JSONObject([
            ("connection", .object(connection)), ("configuration", .object(configuration)),
        ])))])))
    }

    /// `wazuh.agent.get_agents_keys`: base64 of `"<id> <name> <register_ip> <internal_key>"`.
    static func getAgentsKeys(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        var result = AffectedItems(allMsg: "Obtained keys for all selected agents", someMsg: "Some agent keys were not obtained",
                                   noneMsg: "No agent keys were obtained")
        let store = call.env.store
        var ids: [(text: String, id: Int)] = []
        if let list = try call.stringList("agent_list") {
            for text in list {
                guard let id = DapiAgentSupport.agentID(text) else { result.addFailed(id: text, error: .notFound(1701)); continue }
                if id == 0 { result.addFailed(id: text, error: .error(1703)); continue }
                ids.append((text, id))
            }
        } else {
            let all = try DapiAgentSupport.store { () throws(StoreError) in try store.agents() }
            ids = all.filter { $0.id != 0 }.map { ($0.paddedID, $0.id) }
        }
        for (text, id) in ids {
            guard let agent = try DapiAgentSupport.store({ () throws(StoreError) in try store.agent(id: id) }) else {
                result.addFailed(id: text, error: .notFound(1701))
                continue
            }
            let line = "\(agent.paddedID) \(agent.name) \(agent.registerIP ?? "any") \(agent.key ?? "")"
            result.affectedItems.append(["id": .string(agent.paddedID), "key": .string(Data(line.utf8).base64EncodedString())])
        }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    /// `wazuh.core.agent.Agent.get_agents_overview` (what `cluster_control -a` sends): a `WazuhResult`
    /// `{"items": [...], "totalItems": n}`. Filters of `all` are ignored; a comma-separated filter is any
    /// of its values (4.8.1 compares the joined text, which matches nothing).
    static func getAgentsOverview(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        let compiled = try DapiAgentSupport.query(call).compile()
        let listing = try DapiAgentSupport.store { () throws(StoreError) in try call.env.store.listAgents(compiled) }
        return .result(WazuhResultValue(JSONObject([("items", .array(listing.items)), ("totalItems", .int(Int64(listing.total)))])))
    }
}
