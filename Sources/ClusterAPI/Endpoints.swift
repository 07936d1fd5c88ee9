import Common
import Foundation

/// What a handler reads of a request: path parameters, query parameters (already checked against the
/// endpoint's list), and the body.
public struct EndpointInput: Sendable {
    public var path: [String: String]
    public var query: [String: String]
    public var body: [UInt8]

    public init(path: [String: String] = [:], query: [String: String] = [:], body: [UInt8] = []) {
        (self.path, self.query, self.body) = (path, query, body)
    }

    func bad(_ name: String, _ expected: String) -> APIProblem {
        .badRequest("Invalid value for parameter '\(name)': '\(query[name] ?? "")' is not \(expected)")
    }

    public func list(_ name: String) -> [String]? {
        guard let v = query[name] else { return nil }
        return v.split(separator: ",", omittingEmptySubsequences: true).map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    public func int(_ name: String, default d: Int? = nil, range: ClosedRange<Int>? = nil) throws(APIProblem) -> Int? {
        guard let v = query[name] else { return d }
        guard let i = Int(v) else { throw bad(name, "an integer") }
        if let range, !range.contains(i) {
            throw .badRequest("Invalid value for parameter '\(name)': \(i) is not between \(range.lowerBound) and \(range.upperBound)")
        }
        return i
    }

    public func bool(_ name: String, default d: Bool? = nil) throws(APIProblem) -> Bool? {
        guard let v = query[name] else { return d }
        switch v.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw bad(name, "a boolean")
        }
    }

    /// `sort=-name,+id`: the fields and the order of the first sign (4.8.1's `parse_api_param`).
    public func sort() -> JSONValue? {
        guard let v = query["sort"], !v.isEmpty else { return nil }
        let fields = v.split(separator: ",").map { String($0.drop { $0 == "+" || $0 == "-" || $0 == " " }) }
        let order = v.hasPrefix("-") ? "desc" : "asc"
        return ["fields": .array(fields.map { .string($0) }), "order": .string(order)]
    }

    /// `search=text` or `search=-text` (negated).
    public func search() -> JSONValue? {
        guard let v = query["search"], !v.isEmpty else { return nil }
        let negation = v.hasPrefix("-")
        return ["value": .string(negation ? String(v.dropFirst()) : v), "negation": .bool(negation)]
    }

    /// The body as a JSON object (400 naming the problem otherwise).
    public func jsonBody() throws(APIProblem) -> JSONObject {
        guard let value = try? JSONParser.parse(body) else { throw .badRequest("The request body is not valid JSON") }
        guard case .object(let o) = value else { throw .badRequest("The request body must be a JSON object") }
        return o
    }
}

/// One served endpoint (LOCAL-DAPI-CONTROL.md §4): the framework function it runs, its request type,
/// the query parameters it takes, and how they become `f_kwargs`.
public struct APIEndpoint: Sendable {
    public enum Method: String, Sendable, CaseIterable { case GET, POST, PUT, DELETE }
    public let method: Method
    /// OpenAPI-style path (`/agents/{agent_id}/key`).
    public let path: String
    public let module: String
    public let qualname: String
    public let requestType: String
    /// Query parameters it accepts besides `pretty` and `wait_for_complete`.
    public let parameters: [String]
    public let summary: String
    /// Whether the controller first asks `get_nodes` for the cluster's node names (`nodes`).
    public let needsNodes: Bool
    /// The kwargs of the request.
    public let kwargs: @Sendable (EndpointInput) throws(APIProblem) -> JSONObject
    /// `broadcasting` from the request.
    public let broadcasting: @Sendable (EndpointInput) -> Bool
    /// A first request whose result joins the kwargs under this name (`master_md5` of the ruleset
    /// synchronization: the master's hashes, asked with `get_node_ruleset_integrity`).
    public var firstCall: (module: String, qualname: String, requestType: String, kwarg: String)?

    init(_ method: Method, _ path: String, _ module: String, _ qualname: String, _ requestType: String, summary: String,
         parameters: [String] = [], needsNodes: Bool = false,
         kwargs: @escaping @Sendable (EndpointInput) throws(APIProblem) -> JSONObject = { _ in JSONObject() },
         broadcasting: @escaping @Sendable (EndpointInput) -> Bool = { _ in false }) {
        (self.method, self.path, self.module, self.qualname, self.requestType) = (method, path, module, qualname, requestType)
        (self.parameters, self.summary, self.needsNodes, self.kwargs, self.broadcasting) = (parameters, summary, needsNodes, kwargs, broadcasting)
    }

    /// Query parameters every endpoint takes.
    public static let common = ["pretty", "wait_for_complete"]

    /// Path parameter names, in order.
    public var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

/// The endpoints this front serves.
public enum Endpoints {
    static let listing = ["offset", "limit", "sort", "search", "select", "q", "distinct"]
    static let agentFilters = ["status", "older_than", "os.platform", "os.version", "os.name", "manager", "version", "group",
                               "node_name", "name", "ip", "registerIP", "group_config_status"]

    /// offset/limit/sort/search/select/q/distinct as 4.8.1's controllers pass them.
    static func paging(_ i: EndpointInput, into k: inout JSONObject, sortKey: String = "sort") throws(APIProblem) {
        k["offset"] = .int(Int64(try i.int("offset", default: 0, range: 0...Int(Int32.max)) ?? 0))
        k["limit"] = .int(Int64(try i.int("limit", default: 500, range: 1...100_000) ?? 500))
        if let s = i.sort() { k[sortKey] = s }
        if let s = i.search() { k["search"] = s }
        if let s = i.list("select") { k["select"] = .array(s.map { .string($0) }) }
        if let q = i.query["q"] { k["q"] = .string(q) }
    }

    static func strings(_ l: [String]) -> JSONValue { .array(l.map { .string($0) }) }

    static func agentFiltersObject(_ i: EndpointInput) -> JSONObject {
        var f = JSONObject()
        for name in agentFilters {
            guard let v = i.query[name] else { continue }
            f[name] = name == "status" ? strings(i.list(name) ?? []) : .string(v)
        }
        return f
    }

    /// Sort and search the way the "files" listings take them (`sort_by`, `sort_ascending`,
    /// `search_text`, `complementary_search`).
    static func fileListing(_ i: EndpointInput, into k: inout JSONObject) throws(APIProblem) {
        k["offset"] = .int(Int64(try i.int("offset", default: 0, range: 0...Int(Int32.max)) ?? 0))
        k["limit"] = .int(Int64(try i.int("limit", default: 500, range: 1...100_000) ?? 500))
        if let v = i.query["sort"], !v.isEmpty {
            k["sort_by"] = strings(v.split(separator: ",").map { String($0.drop { $0 == "+" || $0 == "-" }) })
            k["sort_ascending"] = .bool(!v.hasPrefix("-"))
        }
        if let v = i.query["search"], !v.isEmpty {
            k["search_text"] = .string(v.hasPrefix("-") ? String(v.dropFirst()) : v)
            k["complementary_search"] = .bool(v.hasPrefix("-"))
        }
        if let s = i.list("select") { k["select"] = strings(s) }
        if let q = i.query["q"] { k["q"] = .string(q) }
    }

    static func fileUpload(_ i: EndpointInput, dirname: Bool = true) throws(APIProblem) -> JSONObject {
        guard let text = String(validating: i.body, as: UTF8.self) else { throw .badRequest("The uploaded file is not UTF-8 text") }
        var k = JSONObject([("filename", .string(i.path["filename"] ?? "")), ("content", .string(text)),
                            ("overwrite", .bool(try i.bool("overwrite", default: false) ?? false))])
        if dirname, let d = i.query["relative_dirname"] { k["relative_dirname"] = .string(d) }
        return k
    }

    public static let all: [APIEndpoint] = cluster + agents + groups + ruleset + manager

    static let cluster: [APIEndpoint] = [
        APIEndpoint(.GET, "/cluster/local/info", "wazuh.cluster", "get_node_wrapper", "local_any", summary: "Get local node info", needsNodes: true),
        APIEndpoint(.GET, "/cluster/local/config", "wazuh.cluster", "read_config_wrapper", "local_any", summary: "Get local node config", needsNodes: true),
        APIEndpoint(.GET, "/cluster/status", "wazuh.cluster", "get_status_json", "local_master", summary: "Get cluster status"),
        APIEndpoint(.GET, "/cluster/nodes", "wazuh.cluster", "get_nodes_info", "local_master", summary: "Get nodes info",
                 parameters: ["nodes_list", "type"] + listing, needsNodes: true) { i throws(APIProblem) in
            var k = JSONObject()
            if let n = i.list("nodes_list") { k["filter_node"] = strings(n) }
            try paging(i, into: &k)
            k["filter_type"] = .string(i.query["type"] ?? "all")
            k["distinct"] = .bool(try i.bool("distinct", default: false) ?? false)
            return k
        },
        APIEndpoint(.GET, "/cluster/healthcheck", "wazuh.cluster", "get_health_nodes", "local_master", summary: "Get nodes healthcheck",
                 parameters: ["nodes_list"], needsNodes: true) { i throws(APIProblem) in
            var k = JSONObject()
            if let n = i.list("nodes_list") { k["filter_node"] = strings(n) }
            return k
        },
rulesetSync,
        APIEndpoint(.GET, "/cluster/{node_id}/info", "wazuh.manager", "get_basic_info", "distributed_master", summary: "Get node information",
                 needsNodes: true) { i throws(APIProblem) in JSONObject([("node_id", .string(i.path["node_id"] ?? ""))]) },
        APIEndpoint(.GET, "/cluster/{node_id}/status", "wazuh.manager", "get_status", "distributed_master", summary: "Get node's daemons status",
                 needsNodes: true) { i throws(APIProblem) in JSONObject([("node_id", .string(i.path["node_id"] ?? ""))]) },
        APIEndpoint(.GET, "/cluster/{node_id}/logs", "wazuh.manager", "ossec_log", "distributed_master", summary: "Get node logs",
                 parameters: ["offset", "limit", "sort", "search", "tag", "level", "q", "select", "distinct"], needsNodes: true) { i throws(APIProblem) in
            var k = JSONObject([("node_id", .string(i.path["node_id"] ?? ""))])
            try logs(i, into: &k)
            return k
        },
        APIEndpoint(.GET, "/cluster/{node_id}/logs/summary", "wazuh.manager", "ossec_log_summary", "distributed_master",
                 summary: "Get node logs summary", needsNodes: true) { i throws(APIProblem) in
            JSONObject([("node_id", .string(i.path["node_id"] ?? ""))])
        },
    ]

    /// GET /cluster/ruleset/synchronization: the master's ruleset hashes, then every asked node compares
    /// its own with them (`nodes_list`, default all: a broadcast).
    static var rulesetSync: APIEndpoint {
        var e = APIEndpoint(.GET, "/cluster/ruleset/synchronization", "wazuh.cluster", "get_ruleset_sync_status", "distributed_master",
                            summary: "Check nodes ruleset synchronization", parameters: ["nodes_list"], needsNodes: true,
                            kwargs: { i throws(APIProblem) in
                                JSONObject([("node_list", i.list("nodes_list").map { strings($0) } ?? "*")])
                            }, broadcasting: { i in i.query["nodes_list"] == nil || i.query["nodes_list"] == "*" })
        e.firstCall = ("wazuh.core.cluster.control", "get_node_ruleset_integrity", "local_master", "master_md5")
        return e
    }

    static func logs(_ i: EndpointInput, into k: inout JSONObject) throws(APIProblem) {
        try fileListing(i, into: &k)
        if let t = i.query["tag"] { k["tag"] = .string(t) }
        if let l = i.query["level"] { k["level"] = .string(l) }
        k["distinct"] = .bool(try i.bool("distinct", default: false) ?? false)
    }

    static let agents: [APIEndpoint] = [
        APIEndpoint(.GET, "/agents", "wazuh.agent", "get_agents", "local_master", summary: "List agents",
                 parameters: ["agents_list"] + listing + agentFilters) { i throws(APIProblem) in
            var k = JSONObject()
            if let l = i.list("agents_list") { k["agent_list"] = strings(l) }
            try paging(i, into: &k)
            k["filters"] = .object(agentFiltersObject(i))
            k["distinct"] = .bool(try i.bool("distinct", default: false) ?? false)
            return k
        },
        APIEndpoint(.POST, "/agents", "wazuh.agent", "add_agent", "local_master", summary: "Add agent") { i throws(APIProblem) in
            let body = try i.jsonBody()
            guard let name = body["name"]?.stringValue else { throw .badRequest("'name' is a required property") }
            var k = JSONObject([("name", .string(name))])
            if let ip = body["ip"]?.stringValue { k["ip"] = .string(ip) }
            return k
        },
        APIEndpoint(.DELETE, "/agents", "wazuh.agent", "delete_agents", "local_master", summary: "Delete agents",
                 parameters: ["agents_list", "purge", "status", "older_than", "q"] + agentFilters.filter { $0 != "status" && $0 != "older_than" }) { i throws(APIProblem) in
            guard let l = i.list("agents_list") else { throw .badRequest("Missing query parameter 'agents_list'") }
            var k = JSONObject([("agent_list", strings(l)), ("purge", .bool(try i.bool("purge", default: false) ?? false))])
            var f = agentFiltersObject(i)
            if f["status"] == nil { f["status"] = strings(["all"]) }
            if f["older_than"] == nil { f["older_than"] = "7d" }
            k["filters"] = .object(f)
            if let q = i.query["q"] { k["q"] = .string(q) }
            return k
        },
        APIEndpoint(.GET, "/agents/summary/status", "wazuh.agent", "get_agents_summary_status", "local_master", summary: "Get agents status summary"),
        APIEndpoint(.GET, "/agents/{agent_id}/key", "wazuh.agent", "get_agents_keys", "local_master", summary: "Get agent key") { i throws(APIProblem) in
            JSONObject([("agent_list", strings([i.path["agent_id"] ?? ""]))])
        },
        APIEndpoint(.PUT, "/agents/{agent_id}/group/{group_id}", "wazuh.agent", "assign_agents_to_group", "local_master",
                 summary: "Assign agent to group", parameters: ["force_single_group"]) { i throws(APIProblem) in
            JSONObject([("agent_list", strings([i.path["agent_id"] ?? ""])), ("group_list", strings([i.path["group_id"] ?? ""])),
                        ("replace", .bool(try i.bool("force_single_group", default: false) ?? false))])
        },
        APIEndpoint(.PUT, "/agents/group", "wazuh.agent", "assign_agents_to_group", "local_master", summary: "Assign agents to group",
                 parameters: ["group_id", "agents_list", "force_single_group"]) { i throws(APIProblem) in
            guard let g = i.query["group_id"] else { throw .badRequest("Missing query parameter 'group_id'") }
            var k = JSONObject()
            if let l = i.list("agents_list") { k["agent_list"] = strings(l) }
            k["group_list"] = strings([g])
            k["replace"] = .bool(try i.bool("force_single_group", default: false) ?? false)
            return k
        },
        APIEndpoint(.DELETE, "/agents/group", "wazuh.agent", "remove_agents_from_group", "local_master", summary: "Remove agents from group",
                 parameters: ["group_id", "agents_list"]) { i throws(APIProblem) in
            guard let g = i.query["group_id"] else { throw .badRequest("Missing query parameter 'group_id'") }
            var k = JSONObject()
            if let l = i.list("agents_list") { k["agent_list"] = strings(l) }
            k["group_list"] = strings([g])
            return k
        },
        APIEndpoint(.DELETE, "/agents/{agent_id}/group", "wazuh.agent", "remove_agent_from_groups", "local_master",
                 summary: "Remove agent from groups", parameters: ["groups_list"]) { i throws(APIProblem) in
            var k = JSONObject([("agent_list", strings([i.path["agent_id"] ?? ""]))])
            if let g = i.list("groups_list") { k["group_list"] = strings(g) }
            return k
        },
    ]

    static let groups: [APIEndpoint] = [
        APIEndpoint(.GET, "/groups", "wazuh.agent", "get_agent_groups", "local_master", summary: "Get groups",
                 parameters: ["groups_list", "hash"] + listing) { i throws(APIProblem) in
            var k = JSONObject()
            if let g = i.list("groups_list") { k["group_list"] = strings(g) }
            try fileListing(i, into: &k)
            if k["sort_by"] == nil { k["sort_by"] = ["name"]; k["sort_ascending"] = true }
            k["hash_algorithm"] = .string(i.query["hash"] ?? "md5")
            k["distinct"] = .bool(try i.bool("distinct", default: false) ?? false)
            return k
        },
        APIEndpoint(.POST, "/groups", "wazuh.agent", "create_group", "local_master", summary: "Create a group") { i throws(APIProblem) in
            let body = try i.jsonBody()
            guard let g = body["group_id"]?.stringValue else { throw .badRequest("'group_id' is a required property") }
            return JSONObject([("group_id", .string(g))])
        },
        APIEndpoint(.DELETE, "/groups", "wazuh.agent", "delete_groups", "local_master", summary: "Delete groups",
                 parameters: ["groups_list"]) { i throws(APIProblem) in
            guard let g = i.list("groups_list") else { throw .badRequest("Missing query parameter 'groups_list'") }
            return JSONObject([("group_list", strings(g))])
        },
        APIEndpoint(.GET, "/groups/{group_id}/agents", "wazuh.agent", "get_agents_in_group", "local_master", summary: "Get agents in a group",
                 parameters: listing + ["status"]) { i throws(APIProblem) in
            var k = JSONObject([("group_list", strings([i.path["group_id"] ?? ""]))])
            try paging(i, into: &k)
            var f = JSONObject()
            if let s = i.list("status") { f["status"] = strings(s) }
            k["filters"] = .object(f)
            k["distinct"] = .bool(try i.bool("distinct", default: false) ?? false)
            return k
        },
    ]

    static func files(_ kind: String, _ module: String, list: String, get: String, upload: String, delete: String) -> [APIEndpoint] {
        let base = "/\(kind)/files"
        return [
            APIEndpoint(.GET, base, module, list, kind == "lists" ? "local_master" : "local_any", summary: "Get \(kind) files",
                     parameters: ["offset", "limit", "sort", "search", "relative_dirname", "filename", "status", "q", "select", "distinct"]) { i throws(APIProblem) in
                var k = JSONObject()
                try fileListing(i, into: &k)
                if let f = i.list("filename") { k["filename"] = strings(f) }
                if let d = i.query["relative_dirname"] { k["relative_dirname"] = .string(d) }
                if let s = i.query["status"] { k["status"] = .string(s) }
                return k
            },
            APIEndpoint(.GET, base + "/{filename}", module, get, "local_master", summary: "Get a \(kind) file",
                     parameters: ["raw", "relative_dirname"]) { i throws(APIProblem) in
                var k = JSONObject([("filename", .string(i.path["filename"] ?? "")), ("raw", .bool(try i.bool("raw", default: false) ?? false))])
                if let d = i.query["relative_dirname"] { k["relative_dirname"] = .string(d) }
                return k
            },
            APIEndpoint(.PUT, base + "/{filename}", module, upload, "local_master", summary: "Upload a \(kind) file",
                     parameters: ["overwrite", "relative_dirname"]) { i throws(APIProblem) in try fileUpload(i) },
            APIEndpoint(.DELETE, base + "/{filename}", module, delete, "local_master", summary: "Delete a \(kind) file",
                     parameters: ["relative_dirname"]) { i throws(APIProblem) in
                var k = JSONObject([("filename", .string(i.path["filename"] ?? ""))])
                if let d = i.query["relative_dirname"] { k["relative_dirname"] = .string(d) }
                return k
            },
        ]
    }

    static let ruleset: [APIEndpoint] =
        files("rules", "wazuh.rule", list: "get_rules_files", get: "get_rule_file", upload: "upload_rule_file", delete: "delete_rule_file")
        + files("decoders", "wazuh.decoder", list: "get_decoders_files", get: "get_decoder_file", upload: "upload_decoder_file", delete: "delete_decoder_file")
        + files("lists", "wazuh.cdb_list", list: "get_path_lists", get: "get_list_file", upload: "upload_list_file", delete: "delete_list_file")

    static let manager: [APIEndpoint] = [
        APIEndpoint(.GET, "/manager/info", "wazuh.manager", "get_basic_info", "local_any", summary: "Get information"),
        APIEndpoint(.GET, "/manager/status", "wazuh.manager", "get_status", "local_any", summary: "Get status"),
        APIEndpoint(.GET, "/manager/logs", "wazuh.manager", "ossec_log", "local_any", summary: "Get logs",
                 parameters: ["offset", "limit", "sort", "search", "tag", "level", "q", "select", "distinct"]) { i throws(APIProblem) in
            var k = JSONObject()
            try logs(i, into: &k)
            return k
        },
        APIEndpoint(.GET, "/manager/logs/summary", "wazuh.manager", "ossec_log_summary", "local_any", summary: "Get logs summary"),
    ]
}
