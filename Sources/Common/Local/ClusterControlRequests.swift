/// The `control.py` helpers of 4.8.1 (LOCAL-DAPI-CONTROL.md §2.9) over `LocalClient`: the exact request
/// payloads `cluster_control` sends, and the decoding of the replies into plain JSON. Errors carried in a
/// reply (exception JSON) are thrown as `WazuhException`.
public enum ClusterControlRequests {
    /// Fields `get_agents` selects, in the order 4.8.1 sends them.
    public static let agentFields = ["id", "name", "version", "node_name", "ip", "status"]

    /// `get_nodes` payload: `{"filter_node": …, "offset": 0, "limit": 500, "sort": null, "search": null,
    /// "select": null, "filter_type": "all", "distinct": false}`.
    public static func nodesPayload(filterNode: [String]?) -> [UInt8] {
        let json: JSONValue = .object(JSONObject([
            ("filter_node", filterNode.map { .array($0.map { .string($0) }) } ?? .null),
            ("offset", 0), ("limit", 500), ("sort", .null), ("search", .null), ("select", .null),
            ("filter_type", "all"), ("distinct", false),
        ]))
        return Array(json.pythonText.utf8)
    }

    /// `get_health` payload: `json.dumps(filter_node)`, a list of names or `null`.
    public static func healthPayload(filterNode: [String]?) -> [UInt8] {
        let json: JSONValue = filterNode.map { .array($0.map { .string($0) }) } ?? .null
        return Array(json.pythonText.utf8)
    }

    /// `dapi` payload of `control.get_agents`: `Agent.get_agents_overview` with the statuses and node
    /// names comma-joined (`all` when none).
    public static func agentsPayload(filterNode: [String]?, filterStatus: [String]?) -> [UInt8] {
        let status = (filterStatus?.isEmpty ?? true) ? ["all"] : filterStatus!
        let node = (filterNode?.isEmpty ?? true) ? ["all"] : filterNode!
        let callable: JSONValue = ["__callable__": [
            "__name__": "get_agents_overview", "__module__": "wazuh.core.agent",
            "__qualname__": "Agent.get_agents_overview", "__type__": "function",
        ]]
        let json: JSONValue = [
            "f": callable,
            "f_kwargs": [
                "filters": ["status": .string(status.joined(separator: ",")), "node_name": .string(node.joined(separator: ","))],
                "limit": nil,
                "select": .array(agentFields.map { .string($0) }),
            ],
            "from_cluster": false,
            "wait_for_complete": false,
        ]
        return Array(json.pythonText.utf8)
    }

    /// `{"items": [{name, type, version, ip}…], "totalItems": n}`.
    public static func getNodes(_ client: LocalClient, filterNode: [String]?) throws -> JSONValue {
        try decode(client.execute(command: "get_nodes", payload: nodesPayload(filterNode: filterNode)))
    }

    /// The health dictionary (`n_connected_nodes`, `nodes`).
    public static func getHealth(_ client: LocalClient, filterNode: [String]?) throws -> JSONValue {
        try decode(client.execute(command: "get_health", payload: healthPayload(filterNode: filterNode)))
    }

    /// `{"items": [...], "totalItems": n}` of the agents; missing selected fields are set to `unknown`.
    public static func getAgents(_ client: LocalClient, filterNode: [String]?, filterStatus: [String]?) throws -> JSONValue {
        let reply = try client.execute(command: "dapi", payload: agentsPayload(filterNode: filterNode, filterStatus: filterStatus))
        return try agentsResult(decode(reply))
    }

    /// Unwraps a DAPI result (`__wazuh_result__` → its `result`) and fills missing agent fields.
    public static func agentsResult(_ json: JSONValue) throws -> JSONValue {
        var result = json
        if let wrapped = json["__wazuh_result__"] {
            result = wrapped["__object__"]?["result"] ?? wrapped["__object__"] ?? .null
        }
        guard var object = result.objectValue, let items = object["items"]?.arrayValue else {
            throw LocalClientError.protocolViolation("agents result without an 'items' list: \(String(json.pythonText.prefix(200)))")
        }
        object["items"] = .array(items.map { item in
            guard var agent = item.objectValue else { return item }
            for key in agentFields where agent[key] == nil { agent[key] = "unknown" }
            return .object(agent)
        })
        return .object(object)
    }

    /// Parses a reply as JSON; an encoded exception is thrown.
    public static func decode(_ payload: [UInt8]) throws -> JSONValue {
        let json: JSONValue
        do {
            json = try JSONParser.parse(payload)
        } catch {
            throw LocalClientError.protocolViolation("reply is not JSON (\(error.description)): \(String(decoding: payload.prefix(200), as: UTF8.self))")
        }
        if json["__wazuh_exception__"] != nil || json["__unhandled_exc__"] != nil {
            throw WazuhException.parse(payload: payload)
        }
        return json
    }

    /// The node names of a `get_nodes` result.
    public static func nodeNames(_ nodes: JSONValue) -> [String] {
        (nodes["items"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }
}
