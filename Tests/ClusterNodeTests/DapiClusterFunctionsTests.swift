@testable import ClusterNode
import Common
import Foundation
import Testing

/// A temporary node home and a `DapiEnvironment` over it, for calling registry functions directly.
struct DapiTestNode {
    let home: String
    let env: DapiEnvironment

    static let capturedNodes: [JSONValue] = [
        ["name": "master-node", "type": "master", "version": "4.8.1", "ip": "127.0.0.1"],
        ["name": "worker1", "type": "worker", "version": "4.8.1", "ip": "127.0.0.1"],
        ["name": "worker2", "type": "worker", "version": "4.8.1", "ip": "127.0.0.1"],
    ]

    /// `config` as the captured worker1 (or another node) has it.
    static func config(node: String, master: Bool) -> ClusterConfig {
        ClusterConfig(name: "wazuh", nodeName: node, nodeType: master ? .master : .worker,
                      key: "WazuhPeerTestKey0123456789abcdef", port: 1516, bindAddr: "127.0.0.1",
                      nodes: ["127.0.0.2"], hidden: false, disabled: false)
    }

    init(node: String = "worker1", master: Bool = false, files: [String: String] = [:],
         health: JSONValue = ["n_connected_nodes": 0, "nodes": [:]]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dapi-\(UUID().uuidString)").path
        for sub in ["etc/rules", "etc/decoders", "etc/lists", "logs", "var/run", "queue/db"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        for (path, content) in files {
            let full = dir + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: false, encoding: .utf8)
        }
        home = dir
        let store = try AgentStore.open(home: dir, nodeName: node)
        let log = try ClusterLog(path: nil, level: .info, mirrorToStderr: false)
        let nodes = Self.capturedNodes
        env = DapiEnvironment(nodeName: node, isMaster: master, home: dir, config: Self.config(node: node, master: master),
                              options: InternalOptions.defaults, store: store, log: log,
                              connectedNodes: { nodes },
                              health: { filter in
                                  guard let filter, let all = health["nodes"]?.objectValue else { return health }
                                  return ["n_connected_nodes": health["n_connected_nodes"] ?? 0,
                                          "nodes": .object(JSONObject(all.filter { filter.contains($0.key) }.map { ($0.key, $0.value) }))]
                              },
                              registration: nil)
    }

    func remove() { try? FileManager.default.removeItem(atPath: home) }

    /// Runs the function the request names, as the executor would: thrown Wazuh errors become the outcome.
    func run(_ request: DapiRequest) async throws -> DapiOutcome {
        let function = try #require(DapiRegistry.lookup(request.function), "no native \(request.function.module).\(request.function.qualname)")
        let call = DapiCall(request: request, env: env)
        do {
            switch function {
            case .blocking(let f): return try f(call)
            case .async(let f): return try await f(call)
            }
        } catch let e as WazuhException {
            return .exception(e)
        }
    }

    func run(_ body: JSONValue) async throws -> DapiOutcome {
        try await run(try DapiRequest.parse(Array(body.pythonText.utf8)).get())
    }

    /// A request from scratch (functions and kwargs the captures do not have).
    func run(_ module: String, _ qualname: String, _ kwargs: JSONValue = [:]) async throws -> DapiOutcome {
        let body: JSONValue = ["f": ["__callable__": ["__name__": .string(qualname), "__module__": .string(module),
                                                      "__qualname__": .string(qualname), "__type__": "function"]],
                               "f_kwargs": kwargs, "request_type": "local_master", "nodes": []]
        return try await run(body)
    }

    func write(_ path: String, _ content: String) throws {
        try content.write(toFile: home + "/" + path, atomically: false, encoding: .utf8)
    }
}

extension DapiFixtures {
    /// The `i`-th DistributedAPI object of a capture: its request (`to_dict`) and its wire result.
    static func dapiCall(_ name: String, _ i: Int = 0) throws -> (request: JSONValue, result: JSONValue) {
        let d = try #require(call(name).record["dapi_calls"]?.arrayValue?[i])
        let req = try JSONParser.parse(Array(try #require(d["to_dict"]?.stringValue).utf8))
        let res = try JSONParser.parse(Array(try #require(d["result_wire"]?.stringValue).utf8))
        return (req, res)
    }

    /// The request body and the raw answer of a capture whose request went to clusterd.
    static func exchange(_ name: String) throws -> (request: JSONValue, response: JSONValue) {
        let c = call(name)
        return (try #require(c.request), try #require(c.response))
    }
}

func expectJSON(_ got: JSONValue, _ want: JSONValue, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(jsonEqualUnordered(got, want), "\(label): \(jsonDifference(got, want) ?? "")", sourceLocation: sourceLocation)
}

/// `wazuh.cluster` functions and `get_node_ruleset_integrity`, against the 4.8.1 captures.
@Suite struct DapiClusterFunctionsTests {
    @Test(arguments: ["cluster.get_nodes_info", "cluster.get_nodes_info.unknown_node"])
    func getNodesInfoMatchesTheCapture(name: String) async throws {
        let node = try DapiTestNode(node: "master-node", master: true)
        defer { node.remove() }
        let (request, response) = try DapiFixtures.exchange(name)
        expectJSON(try await node.run(request).json, response, name)
    }

    @Test func getNodesInfoWithMasterAPIKwargs() async throws {
        // m.cluster.get_nodes_info: the master API's DistributedAPI (run in its own process there).
        let node = try DapiTestNode(node: "master-node", master: true)
        defer { node.remove() }
        let (request, result) = try DapiFixtures.dapiCall("m.cluster.get_nodes_info")
        expectJSON(try await node.run(request).json, result, "m.cluster.get_nodes_info")
    }

    @Test func getNodesInfoQueryTypeSelectAndPaging() async throws {
        let node = try DapiTestNode(node: "master-node", master: true)
        defer { node.remove() }
        let nodes: JSONValue = ["master-node", "worker1", "worker2"]
        var body = try DapiFixtures.exchange("cluster.get_nodes_info").request.objectValue!
        body["f_kwargs"] = ["offset": 1, "limit": 1, "filter_type": "worker", "select": ["name"], "distinct": false]
        body["nodes"] = nodes
        guard case .affected(let a) = try await node.run(.object(body)) else { Issue.record("not affected items"); return }
        #expect(a.affectedItems == [["name": "worker2"]])
        #expect(a.totalAffectedItems == 2)

        body["f_kwargs"] = ["q": "type=worker;name~2", "offset": 0, "limit": 500]
        guard case .affected(let b) = try await node.run(.object(body)) else { Issue.record("not affected items"); return }
        #expect(b.affectedItems.compactMap { $0["name"]?.stringValue } == ["worker2"])
        #expect(b.totalAffectedItems == 1)

        body["f_kwargs"] = ["filter_type": "nope"]
        guard case .exception(let e) = try await node.run(.object(body)) else { Issue.record("no exception"); return }
        #expect(e.code == 1728)
    }

    /// The health closure gets the capture's own node dicts, in reverse order, so the test checks the
    /// sort by `info.name` and the envelope (the dicts themselves are `get_health`'s, made elsewhere).
    static func health(from answer: JSONValue) -> JSONValue {
        let items = answer["__wazuh_result__"]?["__object__"]?["affected_items"]?.arrayValue ?? []
        let pairs = items.reversed().map { ($0["info"]!["name"]!.stringValue!, $0) }
        return ["n_connected_nodes": .int(Int64(items.count)), "nodes": .object(JSONObject(pairs))]
    }

    @Test(arguments: ["cluster.get_health_nodes", "cluster.get_health_nodes.one"])
    func getHealthNodesMatchesTheCapture(name: String) async throws {
        let (request, response) = try DapiFixtures.exchange(name)
        let full = try DapiFixtures.exchange("cluster.get_health_nodes").response
        let node = try DapiTestNode(node: "master-node", master: true, health: Self.health(from: full))
        defer { node.remove() }
        expectJSON(try await node.run(request).json, response, name)
    }

    @Test(arguments: ["cluster.get_node_wrapper", "cluster.read_config_wrapper"])
    func localInfoMatchesTheCapture(name: String) async throws {
        // local_any: the captured result is worker1's API process answering for worker1.
        let node = try DapiTestNode(node: "worker1", master: false)
        defer { node.remove() }
        let (request, result) = try DapiFixtures.dapiCall(name)
        expectJSON(try await node.run(request).json, result, name)
    }

    @Test func getStatusJSONMatchesTheCapture() async throws {
        let node = try DapiTestNode(node: "master-node", master: true)
        defer { node.remove() }
        let (request, response) = try DapiFixtures.exchange("cluster.get_status_json")
        let got = try await node.run(request)
        expectJSON(got.json, response, "get_status_json")
        #expect(String(decoding: got.bytes, as: UTF8.self) == DapiFixtures.call("cluster.get_status_json").rawResponse)
    }

    static let capturedRuleset = [
        "etc/rules/local_rules.xml": "<group name=\"local,\">\n  <rule id=\"100001\" level=\"5\">\n    <if_sid>5716</if_sid>\n    <description>local</description>\n  </rule>\n</group>\n",
        "etc/rules/web_rules_custom.xml": "<group name=\"web,\">\n  <rule id=\"100100\" level=\"3\">\n    <description>web</description>\n  </rule>\n</group>\n",
        "etc/decoders/local_decoder.xml": "<decoder name=\"local-decoder\">\n  <program_name>local</program_name>\n</decoder>\n",
        "etc/lists/blocked-ips": "10.0.0.1:blocked\n10.0.0.2:blocked\n",
    ]

    /// The captured dict, as a Swift dictionary.
    static func dict(_ o: JSONObject) -> [String: String] {
        Dictionary(uniqueKeysWithValues: o.map { ($0.key, $0.value.stringValue ?? "") })
    }

    @Test func rulesetHashHasTheShapeOfGetHash() throws {
        // The captured files' contents are not in the captures, so the hash values cannot be reproduced;
        // the same four paths are seeded and each value is checked against BLAKE2b-512 of the content.
        let captured = try #require(DapiFixtures.call("raw.get_hash").response?.objectValue)
        var files = Self.capturedRuleset
        files["etc/rules/old.xml~"] = "x"            // excluded extension
        files["etc/lists/blocked-ips.swp"] = "x"     // excluded extension
        files["etc/rules/ossec.conf"] = "x"          // excluded name
        files["etc/ossec.conf"] = "<ossec_config/>"  // not ruleset
        files["etc/shared/default/agent.conf"] = "<agent_config/>"
        let node = try DapiTestNode(files: files)
        defer { node.remove() }
        let hashes = try RulesetHash.compute(home: node.home)
        #expect(Set(hashes.keys) == Set(captured.keys))
        for (path, value) in hashes {
            #expect(value.stringValue == Blake2b.hexDigest(of: Array(Self.capturedRuleset[path]!.utf8)), "\(path)")
            #expect(value.stringValue?.count == captured[path]?.stringValue?.count)
        }
        try FileManager.default.createDirectory(atPath: node.home + "/etc/lists/sub", withIntermediateDirectories: true)
        try node.write("etc/lists/sub/more", "a:b\n")
        #expect(try RulesetHash.compute(home: node.home)["etc/lists/sub/more"] != nil, "subdirectories count")
    }

    @Test func getNodeRulesetIntegrityIsAWazuhResultOfTheHashes() async throws {
        let node = try DapiTestNode(node: "master-node", master: true, files: Self.capturedRuleset)
        defer { node.remove() }
        let (request, result) = try DapiFixtures.dapiCall("cluster.ruleset_sync", 0)
        let got = try await node.run(request).json
        let want = try #require(result["__wazuh_result__"]?["__object__"]?["result"]?.objectValue)
        let mine = try #require(got["__wazuh_result__"]?["__object__"]?["result"]?.objectValue)
        #expect(got["__wazuh_result__"]?["__class__"] == "WazuhResult")
        #expect(got["__wazuh_result__"]?["__object__"]?["str_priority"] == .null)
        #expect(Set(mine.keys) == Set(want.keys))
        #expect(Self.dict(mine) == Self.dict(try RulesetHash.compute(home: node.home)))
    }

    @Test func getRulesetSyncStatusMatchesTheCaptureWhenSynced() async throws {
        // m.cluster.ruleset_sync: the dapi_fwd body worker2 received. master_md5 is replaced by the hashes
        // of this home's files (shuffled), since the captured contents are unknown.
        let node = try DapiTestNode(node: "worker2", master: false, files: Self.capturedRuleset)
        defer { node.remove() }
        var (request, response) = try DapiFixtures.exchange("m.cluster.ruleset_sync")
        let local = try RulesetHash.compute(home: node.home)
        var body = request.objectValue!
        var kwargs = body["f_kwargs"]!.objectValue!
        kwargs["master_md5"] = .object(JSONObject(local.reversed().map { ($0.key, $0.value) }))
        body["f_kwargs"] = .object(kwargs)
        request = .object(body)
        expectJSON(try await node.run(request).json, response, "synced")

        // One file differs from the master's: not synced; one missing: not synced.
        try node.write("etc/rules/local_rules.xml", "<group name=\"changed\"></group>\n")
        guard case .affected(let a) = try await node.run(request) else { Issue.record("not affected items"); return }
        #expect(a.affectedItems == [["name": "worker2", "synced": false]])
        try FileManager.default.removeItem(atPath: node.home + "/etc/rules/local_rules.xml")
        try node.write("etc/rules/local_rules.xml", Self.capturedRuleset["etc/rules/local_rules.xml"]!)
        guard case .affected(let b) = try await node.run(request) else { Issue.record("not affected items"); return }
        #expect(b.affectedItems == [["name": "worker2", "synced": true]])
        try FileManager.default.removeItem(atPath: node.home + "/etc/lists/blocked-ips")
        guard case .affected(let c) = try await node.run(request) else { Issue.record("not affected items"); return }
        #expect(c.affectedItems == [["name": "worker2", "synced": false]])
    }

    @Test func getRulesetSyncStatusWithTheCapturedMasterHashesIsNotSyncedHere() async throws {
        // The broadcast body of cluster.ruleset_sync (worker1's API) carries the real master's hashes,
        // which files seeded here do not have.
        let node = try DapiTestNode(node: "worker1", master: false, files: Self.capturedRuleset)
        defer { node.remove() }
        let (request, result) = try DapiFixtures.dapiCall("cluster.ruleset_sync", 1)
        guard case .affected(let a) = try await node.run(request) else { Issue.record("not affected items"); return }
        #expect(a.affectedItems == [["name": "worker1", "synced": false]])
        let want = try #require(result["__wazuh_result__"]?["__object__"])
        #expect(a.sortCasting == ["str"])
        #expect(a.allMsg == want["all_msg"]?.stringValue && a.someMsg == want["some_msg"]?.stringValue
                && a.noneMsg == want["none_msg"]?.stringValue)
    }
}
