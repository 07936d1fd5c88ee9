import Common
import Foundation
import Testing

/// The distributed API across real processes: a master and two workers, agents 001–002 reporting to
/// worker1 and 003–004 to worker2, requests made on the nodes' local sockets as a Wazuh API would.
@Suite(.serialized) struct DapiClusterTests {
    static func body(_ module: String, _ qualname: String, _ kwargs: JSONObject = JSONObject(), type: String = "local_master",
                     broadcasting: Bool = false, fromCluster: Bool = false, nodes: [String] = [], timeout: Int = 10) -> [UInt8] {
        let name = String(qualname.split(separator: ".").last ?? Substring(qualname))
        let f: JSONValue = ["__callable__": ["__name__": .string(name), "__module__": .string(module), "__qualname__": .string(qualname), "__type__": "function"]]
        let body = JSONObject([
            ("f", f), ("f_kwargs", .object(kwargs)), ("request_type", .string(type)), ("wait_for_complete", false),
            ("from_cluster", .bool(fromCluster)), ("is_async", false), ("local_client_arg", .null),
            ("basic_services", ["wazuh-modulesd", "wazuh-analysisd", "wazuh-execd", "wazuh-db", "wazuh-remoted"]),
            ("rbac_permissions", ["rbac_mode": "black"]), ("current_user", "wazuh"), ("broadcasting", .bool(broadcasting)),
            ("nodes", .array(nodes.map { .string($0) })), ("api_timeout", .int(Int64(timeout))),
        ])
        return Array(JSONValue.object(body).pythonText.utf8)
    }

    /// `dapi` (or `dapi_fwd`) on `home`'s local socket, decoded.
    static func call(_ home: String, _ body: [UInt8], command: String = "dapi", forwardTo node: String? = nil) throws -> DapiOutcome {
        let payload = node.map { Array("\($0) ".utf8) + body } ?? body
        return DapiOutcome.decode(try LocalClient(home: home, timeout: 10, asyncTimeout: 30).execute(command: command, payload: payload))
    }

    static func items(_ o: DapiOutcome) -> [JSONValue] {
        if case .affected(let a) = o { return a.affectedItems }
        return []
    }

    static func ids(_ o: DapiOutcome) -> [String] { items(o).compactMap { $0["id"]?.stringValue } }

    struct Cluster {
        let trio: AgentsClusterTests.Trio
        init(_ label: String, backend: Backend = .embedded, intervals: [String: [String: Double]] = [:]) throws {
            trio = try AgentsClusterTests.Trio(label, backend: backend, intervals: intervals)
            for i in 1...4 {
                #expect(try AgentsClusterTests.register(through: trio.master.home, name: "agent-\(i)")["error"]?.intValue == 0)
            }
            for w in [trio.w1, trio.w2] {
                let store = try AgentStore.open(home: w.home, nodeName: w === trio.w1 ? "worker1" : "worker2")
                #expect(waitUntil(10) { ((try? store.agents()) ?? []).count == 5 }, "client.keys reached \(w.home)")
            }
            for (w, ids) in [(trio.w1, "1,2"), (trio.w2, "3,4")] {
                let sim = try runTool("agent-sim", ["keepalive", "--home", w.home, "--ids", ids])
                #expect(sim.status == 0, "\(sim.err)")
            }
            let masterStore = try AgentStore.open(home: trio.master.home, nodeName: "master-node")
            #expect(waitUntil(10) {
                let a = (try? masterStore.agents()) ?? []
                return a.filter { $0.nodeName == "worker1" }.map(\.id) == [1, 2] && a.filter { $0.nodeName == "worker2" }.map(\.id) == [3, 4]
            }, "agent-info reached the master:\n\(trio.master.log.suffix(2000))")
        }
        var master: Node { trio.master }
        var w1: Node { trio.w1 }
        var w2: Node { trio.w2 }
        func stop() { trio.stop() }
    }

    @Test(arguments: Backend.allCases) func requestsAreSolvedWhereTheyCanBeAnswered(backend: Backend) throws {
        let c = try Cluster("dapi", backend: backend)
        defer { c.stop() }

        // get_agents from a worker's socket: local_master, solved on the master.
        let all = try Self.call(c.w1.home, Self.body("wazuh.agent", "get_agents", JSONObject([("offset", 0), ("limit", 500)])))
        #expect(Self.ids(all) == ["000", "001", "002", "003", "004"], "\(all.json.pythonText.prefix(600))")
        #expect(c.master.log.contains("Receiving request: get_agents from worker1 ("))

        // q, sort, offset and limit.
        let page = try Self.call(c.w2.home, Self.body("wazuh.agent", "get_agents", JSONObject([
            ("q", "status=active;node_name!=master-node"), ("sort", ["fields": ["name"], "order": "desc"]),
            ("select", ["id", "name", "node_name"]), ("offset", 1), ("limit", 2)])))
        guard case .affected(let p) = page else { Issue.record("not a result: \(page.json.pythonText)"); return }
        #expect(p.totalAffectedItems == 4 && Self.ids(page) == ["003", "002"], "\(page.json.pythonText)")

        // distributed_master from worker1 for an agent of worker2: the master forwards it to worker2 only.
        let mark = c.w2.log.utf8.count
        let remote = try Self.call(c.w1.home, Self.body("wazuh.agent", "get_agents", JSONObject([("agent_list", ["003"])]), type: "distributed_master"))
        #expect(Self.ids(remote) == ["003"], "\(remote.json.pythonText.prefix(600))")
        #expect(String(c.w2.log.dropFirst(mark)).contains("Receiving request: get_agents from master ("))
        // Agents on both workers: each answers for its own, the master merges in id order.
        let both = try Self.call(c.w1.home, Self.body("wazuh.agent", "get_agents", JSONObject([("agent_list", ["004", "001"])]), type: "distributed_master"))
        #expect(Self.ids(both) == ["001", "004"], "\(both.json.pythonText.prefix(600))")

        // dapi_fwd from the master's socket to one worker, and a broadcast to every node.
        // As the master API sends it: already forwarded (from_cluster), so the worker runs it itself.
        let info = try Self.call(c.master.home, Self.body("wazuh.manager", "get_basic_info", type: "distributed_master", fromCluster: true),
                                 command: "dapi_fwd", forwardTo: "worker2")
        #expect(Self.items(info).count == 1 && Self.items(info).first?["path"]?.stringValue == c.w2.home, "\(info.json.pythonText)")
        let broadcast = try Self.call(c.master.home, Self.body("wazuh.cluster", "get_ruleset_sync_status",
                                                                JSONObject([("node_list", "*"), ("master_md5", .object(JSONObject()))]),
                                                                type: "distributed_master", broadcasting: true))
        #expect(Set(Self.items(broadcast).compactMap { $0["name"]?.stringValue }) == ["master-node", "worker1", "worker2"],
                "\(broadcast.json.pythonText)")
        // dapi_fwd of a broadcast body (what the master API sends each node of a broadcast): the worker
        // answers for itself only, since the master already fanned it out.
        let fwdBroadcast = try Self.call(c.master.home, Self.body("wazuh.cluster", "get_ruleset_sync_status",
                                                                   JSONObject([("master_md5", .object(JSONObject()))]),
                                                                   type: "distributed_master", broadcasting: true, fromCluster: true),
                                         command: "dapi_fwd", forwardTo: "worker1")
        #expect(Self.items(fwdBroadcast).compactMap { $0["name"]?.stringValue } == ["worker1"], "\(fwdBroadcast.json.pythonText)")
        // A node routed request from a worker: answered by the node it names.
        let status = try Self.call(c.w1.home, Self.body("wazuh.manager", "get_basic_info", JSONObject([("node_id", "worker2")]), type: "distributed_master"))
        #expect(Self.items(status).first?["path"]?.stringValue == c.w2.home, "\(status.json.pythonText)")

        // Nodes that do not exist: a failed item on the API path, 3022 on dapi_fwd.
        let unknown = try Self.call(c.w1.home, Self.body("wazuh.manager", "get_basic_info", JSONObject([("node_id", "worker9")]), type: "distributed_master"))
        guard case .affected(let u) = unknown else { Issue.record("\(unknown.json.pythonText)"); return }
        #expect(u.failedItems.map(\.ids) == [["worker9"]] && u.failedItems.first?.error.code == 1730)
        #expect(throws: WazuhException.cluster(3022)) {
            _ = try Self.call(c.master.home, Self.body("wazuh.agent", "get_agents"), command: "dapi_fwd", forwardTo: "worker9")
        }

        // A group created and an agent assigned through the DAPI reach every node's store.
        let created = try Self.call(c.w2.home, Self.body("wazuh.agent", "create_group", JSONObject([("group_id", "api-test")])))
        #expect(created == .result(WazuhResultValue(JSONObject([("message", "Group 'api-test' created.")]))), "\(created.json.pythonText)")
        let assigned = try Self.call(c.w1.home, Self.body("wazuh.agent", "assign_agents_to_group",
                                                           JSONObject([("group_list", ["api-test"]), ("agent_list", ["002", "003"])])))
        #expect(Self.items(assigned) == ["002", "003"], "\(assigned.json.pythonText)")
        for (node, name) in [(c.master, "master-node"), (c.w1, "worker1"), (c.w2, "worker2")] {
            let store = try AgentStore.open(home: node.home, nodeName: name)
            #expect(waitUntil(10) { (try? store.agent(id: 3))?.groups.contains("api-test") == true }, "api-test reached \(name)")
        }
        // cluster_control -a goes the same way and prints as before.
        let control = try runTool("cluster_control", ["--home", c.w1.home, "-a", "-fn", "worker2"])
        #expect(control.status == 0 && control.out.components(separatedBy: "worker2").count == 3, "\(control.out)\(control.err)")

        // A worker that was connected and is gone: no longer a node of the cluster (1730), and dapi_fwd to
        // it is 3022.
        c.w2.stop()
        #expect(waitUntil(10) {
            guard let nodes = try? LocalClient(home: c.master.home, timeout: 5).execute(command: "get_nodes", text: "{}") else { return false }
            return !nodes.contains("worker2")
        })
        let gone = try Self.call(c.w1.home, Self.body("wazuh.manager", "get_basic_info", JSONObject([("node_id", "worker2")]), type: "distributed_master"))
        guard case .affected(let g) = gone else { Issue.record("\(gone.json.pythonText)"); return }
        #expect(g.failedItems.map(\.ids) == [["worker2"]] && g.failedItems.first?.error.code == 1730)
        #expect(throws: WazuhException.cluster(3022)) {
            _ = try Self.call(c.master.home, Self.body("wazuh.manager", "get_basic_info", type: "distributed_master", fromCluster: true),
                              command: "dapi_fwd", forwardTo: "worker2")
        }
        c.trio.checkBackend()
    }

    /// A forwarded request whose node stops answering ends with 3021 after `timeout_dapi_request`; the
    /// node answers again once it resumes.
    @Test func aNodeThatDoesNotAnswerTimesOut() throws {
        // The master must not drop the stopped worker for silence before the request times out.
        let c = try Cluster("dapi-timeout", intervals: ["communication": ["timeout_dapi_request": 1],
                                                        "master": ["max_allowed_time_without_keepalive": 60]])
        defer { c.stop() }
        kill(c.w2.pid, SIGSTOP)
        let outcome = try Self.call(c.w1.home, Self.body("wazuh.manager", "get_basic_info", JSONObject([("node_id", "worker2")]), type: "distributed_master"))
        kill(c.w2.pid, SIGCONT)
        guard case .exception(let e) = outcome else { Issue.record("\(outcome.json.pythonText)"); return }
        #expect(e.code == 3021, "\(e)")
        // worker1 answers for itself meanwhile and afterwards.
        let again = try Self.call(c.w1.home, Self.body("wazuh.manager", "get_basic_info", JSONObject([("node_id", "worker1")]), type: "distributed_master"))
        #expect(Self.items(again).first?["path"]?.stringValue == c.w1.home)
    }
}
