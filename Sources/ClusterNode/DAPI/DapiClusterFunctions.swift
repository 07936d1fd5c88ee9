import Common
import Foundation

/// `wazuh.cluster` (LOCAL-DAPI-CONTROL.md §2.9, §4) and `wazuh.core.cluster.control.get_node_ruleset_integrity`.
enum DapiClusterFunctions {
    static let table: [DapiEntry] = [
        DapiEntry("wazuh.cluster", "get_nodes_info", .async({ try await getNodesInfo($0) })),
        DapiEntry("wazuh.cluster", "get_health_nodes", .async({ try await getHealthNodes($0) })),
        DapiEntry("wazuh.cluster", "get_node_wrapper", .blocking({ getNodeWrapper($0) })),
        DapiEntry("wazuh.cluster", "read_config_wrapper", .blocking({ readConfigWrapper($0) })),
        DapiEntry("wazuh.cluster", "get_status_json", .blocking({ getStatusJSON($0) })),
        DapiEntry("wazuh.cluster", "get_ruleset_sync_status", .blocking({ try getRulesetSyncStatus($0) })),
        DapiEntry("wazuh.core.cluster.control", "get_node_ruleset_integrity", .blocking({ try getNodeRulesetIntegrity($0) })),
    ]

    /// `get_nodes_info`: the `get_nodes` items of the requested nodes. Names the API did not list among the
    /// cluster's nodes (the request's `nodes`) are failed items 1730 (`WazuhResourceNotFound`) and are left
    /// out of the query; no `filter_node` means every node. With `q`, the query runs unpaged and `q`, the
    /// total and offset/limit are applied afterwards (as `control.get_nodes` does).
    static func getNodesInfo(_ call: DapiCall) async throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected nodes information was returned",
                                   someMsg: "Some nodes information was not returned",
                                   noneMsg: "No information was returned")
        let connected = try await call.env.connectedNodes()
        let clusterNodes = call.request.nodes.isEmpty ? connected.compactMap { $0["name"]?.stringValue } : call.request.nodes
        var args = JSONObject()
        if let requested = try call.stringList("filter_node") {
            var known: [String] = []
            for name in requested {
                if clusterNodes.contains(name) {
                    if !known.contains(name) { known.append(name) }
                } else {
                    result.addFailed(id: name, error: .notFound(1730))
                }
            }
            args["filter_node"] = .array(known.map { .string($0) })
        }
        let q = try call.string("q") ?? ""
        let offset = try call.int("offset") ?? 0, limit = try call.int("limit") ?? 500
        for key in ["sort", "search", "select", "filter_type", "distinct"] {
            if let v = call.kwargs[key], v != .null { args[key] = v }
        }
        args["offset"] = .int(Int64(q.isEmpty ? offset : 0))
        args["limit"] = .int(Int64(q.isEmpty ? limit : 500))
        let answer = try NodeQuery(args: .object(args)).apply(to: connected)
        var items = answer["items"]?.arrayValue ?? []
        var total = Int(answer["totalItems"]?.intValue ?? Int64(items.count))
        if !q.isEmpty {
            var query = DapiItemQuery()
            (query.q, query.offset, query.limit) = (q, offset, limit)
            let filtered = try query.apply(to: items)
            (items, total) = (filtered.items, filtered.total)
        }
        result.affectedItems = items
        result.totalAffectedItems = total
        return .affected(result)
    }

    /// `get_health_nodes`: the node dicts of `get_health`, sorted by `info.name`.
    static func getHealthNodes(_ call: DapiCall) async throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected nodes healthcheck information was returned",
                                   someMsg: "Some nodes healthcheck information was not returned",
                                   noneMsg: "No healthcheck information was returned")
        let health = try await call.env.health(try call.stringList("filter_node"))
        let nodes = health["nodes"]?.objectValue.map { $0.map { $0.value } } ?? []
        result.affectedItems = nodes.sorted { ($0["info"]?["name"]?.stringValue ?? "") < ($1["info"]?["name"]?.stringValue ?? "") }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    /// `get_node_wrapper`: `{node, cluster, type}` of this node.
    static func getNodeWrapper(_ call: DapiCall) -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected information was returned", noneMsg: "No information was returned")
        result.affectedItems = [["node": .string(call.env.nodeName), "cluster": .string(call.env.config.name),
                                 "type": .string(call.env.nodeType)]]
        result.totalAffectedItems = 1
        return .affected(result)
    }

    /// `read_config_wrapper`: this node's `<cluster>` dict, key in clear (as 4.8.1 returns it).
    static func readConfigWrapper(_ call: DapiCall) -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected information was returned", noneMsg: "No information was returned")
        result.affectedItems = [call.env.config.json]
        result.totalAffectedItems = 1
        return .affected(result)
    }

    /// `get_status_json`: `enabled` from the `<disabled>` setting; `running` is "yes" because the answer
    /// comes from clusterd itself (4.8.1 reads the clusterd pid file, which exists while it runs).
    static func getStatusJSON(_ call: DapiCall) -> DapiOutcome {
        let enabled = call.env.config.disabled ? "no" : "yes"
        return .result(WazuhResultValue(JSONObject([("data", ["enabled": .string(enabled), "running": "yes"])])))
    }

    /// `get_node_ruleset_integrity`: the `get_hash` dict of this node, as a `WazuhResult`.
    static func getNodeRulesetIntegrity(_ call: DapiCall) throws -> DapiOutcome {
        .result(WazuhResultValue(try RulesetHash.compute(home: call.env.home)))
    }

    /// `get_ruleset_sync_status`: whether this node's ruleset hashes equal `master_md5` (compared as dicts,
    /// key order aside). `node_list` only routes the call.
    static func getRulesetSyncStatus(_ call: DapiCall) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "Nodes ruleset synchronization status was successfully read",
                                   someMsg: "Could not read ruleset synchronization status in some nodes",
                                   noneMsg: "Could not read ruleset synchronization status", sortCasting: ["str"])
        let master = try call.object("master_md5") ?? JSONObject()
        do {
            let local = try RulesetHash.compute(home: call.env.home)
            result.affectedItems = [["name": .string(call.env.nodeName), "synced": .bool(sameDict(master, local))]]
        } catch let e as WazuhException where e.kind == .error || e.kind == .resourceNotFound {
            result.addFailed(id: call.env.nodeName, error: e)
        }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    static func sameDict(_ a: JSONObject, _ b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        return a.allSatisfy { b[$0.key] == $0.value }
    }
}
