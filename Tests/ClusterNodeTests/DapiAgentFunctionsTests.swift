@testable import ClusterNode
@testable import Common
import Foundation
import Synchronization
import Testing

/// A master home seeded like the 4.8.1 capture's set-up table (Tests/Fixtures/wazuh-4.8.1/dapi/README.md):
/// 13 agent rows, groups default/web/db as `etc/shared` directories, `agent-template.conf`.
final class AgentTestbed: @unchecked Sendable {
    let home: String
    let store: AgentStore
    let log: ClusterLog

    // The capture's dates: the manager row's registration, the agents' registration, their last
    // keep-alive, and agent 005's (it disconnected 600 s earlier).
    static let managerAdded = 1_796_163_255
    static let agentsAdded = 1_796_159_658
    static let keepalive = 1_796_163_276
    static let disconnected = 1_796_162_676

    /// `etc/shared/<group>/agent.conf` contents and their MD5 (computed outside Swift).
    static let agentConf: [String: (text: String, md5: String)] = [
        "default": ("<agent_config>\n  <!-- default -->\n</agent_config>\n", "db89fc758a86bde5ab62e84b0b6714ca"),
        "web": ("<agent_config>\n  <!-- web -->\n</agent_config>\n", "95f61d5c20485ff1100eb1f314c5cb5b"),
        "db": ("<agent_config>\n  <!-- db -->\n</agent_config>\n", "403e402d7531f8838afd525899f90692"),
    ]
    static let template = "<agent_config>\n  <!-- template -->\n</agent_config>\n"

    /// Groups before the captured calls ran.
    static let initialGroups: [Int: [String]] = [
        1: ["default", "web"], 2: ["default", "web"], 3: ["default", "web", "db"], 4: ["default", "db"], 5: ["default"],
        6: ["default", "web"], 7: ["default", "web"], 8: ["default", "db"], 9: ["default"], 10: ["default"],
        11: ["default"], 12: ["default"],
    ]

    init(seed: Bool = true) throws {
        home = NSTemporaryDirectory() + "dapiagents-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        for (group, conf) in Self.agentConf {
            try fm.createDirectory(atPath: home + "/etc/shared/" + group, withIntermediateDirectories: true)
            try Data(conf.text.utf8).write(to: URL(fileURLWithPath: home + "/etc/shared/\(group)/agent.conf"))
        }
        try Data(Self.template.utf8).write(to: URL(fileURLWithPath: home + "/etc/shared/agent-template.conf"))
        store = try AgentStore.open(home: home, nodeName: "master-node")
        log = try ClusterLog(path: nil, level: .info, mirrorToStderr: false)
        if seed { try self.seed() }
    }

    deinit { try? FileManager.default.removeItem(atPath: home) }

    func sql(_ text: String, _ values: [SQLValue] = []) throws {
        try store.locked { (s: inout AgentStore.State) throws(StoreError) in _ = try s.db.run(text, values) }
    }

    private func seed() throws {
        let ubuntu = "os_arch = 'x86_64', os_codename = 'jammy', os_major = '22', os_minor = '04', os_name = 'Ubuntu', os_platform = 'ubuntu', os_version = '22.04.4 LTS'"
        try sql("""
            UPDATE agent SET name = 'wazuh-master', node_name = 'master-node', date_add = ?, manager_host = 'wazuh-master',
                version = 'Wazuh v4.8.1', group_config_status = 'not synced', \(ubuntu),
                os_uname = 'Linux |wazuh-master |5.15.0-105-generic |#115-Ubuntu SMP |x86_64' WHERE id = 0
            """, [.int(Int64(Self.managerAdded))])
        for n in 1...12 {
            let name = String(format: "agent-%05d", n)
            let key = String(format: "%032d", n)
            try sql("INSERT INTO agent (id, name, register_ip, internal_key, date_add, `group`) VALUES (?, ?, 'any', ?, ?, NULL)",
                    [.int(Int64(n)), .text(name), .text(key), .int(Int64(Self.agentsAdded))])
            guard n <= 10 else { continue }
            let worker = n <= 5 ? "worker1" : "worker2"
            let status = n == 5 ? "disconnected" : n == 10 ? "pending" : "active"
            let keepalive = n == 5 ? Self.disconnected : Self.keepalive
            try sql("""
                UPDATE agent SET ip = ?, node_name = ?, manager_host = ?, connection_status = ?, last_keepalive = ?,
                    disconnection_time = ?, version = 'Wazuh v4.8.1', config_sum = 'ab73af41699f13fdd81903b5f23d8d00',
                    merged_sum = '4a8724b20dee0124ff9656783c490c4e', group_config_status = 'synced', \(ubuntu),
                    os_uname = ? WHERE id = ?
                """, [.text("10.0.0.\(n)"), .text(worker), .text("wazuh-" + worker), .text(status), .int(Int64(keepalive)),
                      .int(n == 5 ? Int64(Self.disconnected) : 0), .text("Linux |\(name) |5.15.0-105-generic |#115-Ubuntu SMP |x86_64"),
                      .int(Int64(n))])
        }
        try sql("""
            UPDATE agent SET version = 'Wazuh v4.7.5', os_codename = NULL, os_minor = NULL, os_major = '9', os_name = 'CentOS Stream',
                os_platform = 'centos', os_version = '9' WHERE id = 10
            """)
        let data = Self.initialGroups.sorted { $0.key < $1.key }.map { id, groups in
            "{\"id\":\(id),\"groups\":[\(groups.map { "\"\($0)\"" }.joined(separator: ","))]}"
        }.joined(separator: ",")
        #expect(try store.setAgentGroups("{\"mode\":\"override\",\"sync_status\":\"synced\",\"data\":[\(data)]}") == 12)
    }

    func env(registration: (@Sendable ([UInt8]) async -> String)? = nil) -> DapiEnvironment {
        DapiEnvironment(nodeName: "master-node", isMaster: true, home: home, config: .defaults, options: .defaults, store: store,
                        log: log, connectedNodes: { [] }, health: { _ in JSONValue.object(JSONObject()) }, registration: registration)
    }

    /// Runs a `dapi` body through the registry; a thrown `WazuhException` becomes `.exception`.
    func run(_ body: JSONValue, registration: (@Sendable ([UInt8]) async -> String)? = nil,
             sourceLocation: SourceLocation = #_sourceLocation) async -> DapiOutcome {
        let request: DapiRequest
        switch DapiRequest.parse(Array(body.compactText.utf8)) {
        case .success(let r): request = r
        case .failure(let e): return .exception(e)
        }
        guard let function = DapiRegistry.lookup(request.function) else {
            Issue.record("no registry entry for \(request.function.module).\(request.function.qualname)", sourceLocation: sourceLocation)
            return .exception(.internal(1000, "unregistered"))
        }
        let call = DapiCall(request: request, env: env(registration: registration))
        do {
            switch function {
            case .blocking(let f): return try f(call)
            case .async(let f): return try await f(call)
            }
        } catch let e as WazuhException {
            return .exception(e)
        } catch {
            Issue.record("not a WazuhException: \(error)", sourceLocation: sourceLocation)
            return .exception(.internal(1000, "\(error)"))
        }
    }

    /// A captured request with its kwargs changed.
    static func request(_ capture: String, kwargs: JSONValue) -> JSONValue {
        guard case .object(var body)? = DapiFixtures.call(capture).request else { return .null }
        body["f_kwargs"] = kwargs
        return .object(body)
    }

    /// A call of `module.qualname` with `kwargs`.
    static func request(_ module: String, _ qualname: String, _ kwargs: JSONValue) -> JSONValue {
        ["f": ["__callable__": ["__name__": .string(String(qualname.split(separator: ".").last!)), "__module__": .string(module),
                                "__qualname__": .string(qualname), "__type__": "function"]],
         "f_kwargs": kwargs, "request_type": "local_master"]
    }

    func groups(_ id: Int) throws -> [String] { try store.agent(id: id)?.groups ?? [] }

    func groupSyncStatus(_ id: Int) throws -> String { try store.agent(id: id)?.groupSyncStatus ?? "?" }
}

/// Each agent capture replayed against the seeded store, answers compared as JSON objects.
@Suite struct DapiAgentCaptureTests {
    /// Replays capture `name` on a fresh testbed and compares the whole answer.
    func replay(_ name: String, on bed: AgentTestbed? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> DapiOutcome {
        let bed = try bed ?? AgentTestbed()
        let capture = DapiFixtures.call(name)
        let outcome = await bed.run(try #require(capture.request), sourceLocation: sourceLocation)
        let expected = try #require(capture.response)
        #expect(jsonDifference(outcome.json, expected) == nil, "\(name): \(jsonDifference(outcome.json, expected) ?? "")", sourceLocation: sourceLocation)
        return outcome
    }

    @Test func getAgents() async throws { _ = try await replay("agent.get_agents") }
    @Test func getAgentsSelectSortPage() async throws { _ = try await replay("agent.get_agents.select_sort_page") }
    @Test func getAgentsQActive() async throws { _ = try await replay("agent.get_agents.q_active") }
    @Test func getAgentsUnknownID() async throws { _ = try await replay("agent.get_agents.unknown_id") }
    @Test func summaryStatus() async throws { _ = try await replay("agent.get_agents_summary_status") }
    @Test func keys() async throws { _ = try await replay("agent.get_agents_keys") }
    @Test func agentsInGroup() async throws { _ = try await replay("agent.get_agents_in_group") }
    @Test func controlGetAgents() async throws { _ = try await replay("control.get_agents") }
    @Test func masterControlGetAgents() async throws { _ = try await replay("m.control.get_agents") }

    /// `m.agent.get_agents` ran in the master's API process: its body and answer are in `dapi_calls`.
    @Test func masterGetAgentsLimit2() async throws {
        let record = DapiFixtures.call("m.agent.get_agents").record
        let dapi = try #require(record["dapi_calls"]?.arrayValue?.first)
        let body = try JSONParser.parse(Array(try #require(dapi["to_dict"]?.stringValue).utf8))
        let expected = try JSONParser.parse(Array(try #require(dapi["result_wire"]?.stringValue).utf8))
        let outcome = await (try AgentTestbed()).run(body)
        #expect(jsonDifference(outcome.json, expected) == nil, "\(jsonDifference(outcome.json, expected) ?? "")")
    }

    /// The group configSums hash files whose content the capture does not give: every other field is
    /// compared with the capture, configSum with the MD5 of the files seeded here.
    @Test func agentGroups() async throws {
        let bed = try AgentTestbed()
        let capture = DapiFixtures.call("agent.get_agent_groups")
        let outcome = await bed.run(try #require(capture.request))
        func stripped(_ v: JSONValue) -> JSONValue {
            guard case .object(var root) = v, case .object(var result)? = root["__wazuh_result__"],
                  case .object(var object)? = result["__object__"], let items = object["affected_items"]?.arrayValue else { return v }
            object["affected_items"] = .array(items.map { item in
                guard case .object(var o) = item else { return item }
                o["configSum"] = nil
                return .object(o)
            })
            result["__object__"] = .object(object)
            root["__wazuh_result__"] = .object(result)
            return .object(root)
        }
        let expected = try #require(capture.response)
        #expect(jsonDifference(stripped(outcome.json), stripped(expected)) == nil, "\(jsonDifference(stripped(outcome.json), stripped(expected)) ?? "")")
        guard case .affected(let a) = outcome else { Issue.record("not affected items"); return }
        for item in a.affectedItems {
            let name = try #require(item["name"]?.stringValue)
            #expect(item["configSum"]?.stringValue == AgentTestbed.agentConf[name]?.md5, "\(name)")
        }
    }

    @Test func assignAgentsToGroup() async throws {
        let bed = try AgentTestbed()
        _ = try await replay("agent.assign_agents_to_group", on: bed)
        #expect(try bed.groups(5) == ["default", "db"] && bed.groups(9) == ["default", "db"])
        #expect(try bed.groupSyncStatus(5) == "syncreq" && bed.groupSyncStatus(9) == "syncreq" && bed.groupSyncStatus(4) == "synced")
        // The agent-groups task now carries exactly those two to the workers.
        let pending = try bed.store.agents().filter { $0.groupSyncStatus == "syncreq" }.map(\.id)
        #expect(pending == [5, 9])
        // Counts follow: db had 3 members.
        #expect(try bed.store.groupCounts()["db"] == 5)
    }

    @Test func removeAgentFromGroups() async throws {
        let bed = try AgentTestbed()
        _ = try await replay("agent.remove_agent_from_groups", on: bed)
        #expect(try bed.groups(3) == ["default", "db"])
        #expect(try bed.groupSyncStatus(3) == "syncreq")
        let row = try #require(try bed.store.agent(id: 3))
        #expect(row.groupHash == GroupHash.agentHash(csv: "default,db"))
    }

    @Test func createThenDeleteGroup() async throws {
        let bed = try AgentTestbed()
        _ = try await replay("agent.create_group", on: bed)
        let dir = bed.home + "/etc/shared/api-test"
        #expect(FileManager.default.contents(atPath: dir + "/agent.conf") == Data(AgentTestbed.template.utf8))
        #expect(try bed.store.groupCounts()["api-test"] == 0)
        // The second creation is 1711.
        let again = await bed.run(DapiFixtures.call("agent.create_group").request!)
        #expect(again == .exception(.error(1711, "api-test")))
        _ = try await replay("agent.delete_groups", on: bed)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(try bed.store.groupCounts()["api-test"] == nil)
    }

    /// The capture failed with 1726 (no authd in that harness). Without a registration service ours fails
    /// the same way (dapi_errors are the executor's, not the function's); with one, 012 is deleted through
    /// authd's `remove` and `older_than` is in the result's dikt.
    @Test func deleteAgents() async throws {
        let bed = try AgentTestbed()
        let capture = DapiFixtures.call("agent.delete_agents")
        let body = try #require(capture.request)
        let expected = WazuhException.decode(try #require(capture.response))
        guard case .exception(let e) = await bed.run(body) else { Issue.record("no exception without registration"); return }
        #expect(e.code == expected.code && e.className == expected.className && e.message == expected.message)
        #expect(e.message == "Wazuh authd is not running")

        let requests = Mutex<[String]>([])
        let store = bed.store
        let registration: @Sendable ([UInt8]) async -> String = { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            requests.withLock { $0.append(text) }
            guard let id = (try? JSONParser.parse(bytes))?["arguments"]?["id"]?.stringValue.flatMap({ Int($0) }) else {
                return #"{"error":9010,"message":"No such agent ID"}"#
            }
            try? store.deleteAgent(id: id)
            return #"{"error":0,"data":"Agent deleted successfully."}"#
        }
        let outcome = await bed.run(body, registration: registration)
        guard case .affected(let a) = outcome else { Issue.record("not affected items: \(outcome)"); return }
        #expect(a.affectedItems == ["012"] && a.totalAffectedItems == 1 && a.failedItems.isEmpty)
        #expect(a.allMsg == "All selected agents were deleted" && a.dikt["older_than"] == "0s")
        #expect(requests.withLock { $0 } == [#"{"function":"remove","arguments":{"id":"012","purge":true}}"#])
        #expect(try bed.store.agent(id: 12) == nil)

        // 000 is 1703, a missing id 1701, an agent the filters leave out 1731; nothing is asked of authd.
        requests.withLock { $0 = [] }
        let filtered = AgentTestbed.request("agent.delete_agents", kwargs: [
            "agent_list": ["000", "012", "001"], "purge": true, "filters": ["status": ["never_connected"], "older_than": "0s"]])
        guard case .affected(let b) = await bed.run(filtered, registration: registration) else { Issue.record("not affected items"); return }
        #expect(b.affectedItems.isEmpty)
        #expect(b.failedItems.map { [String($0.error.code)] + $0.ids } == [["1703", "000"], ["1701", "012"], ["1731", "001"]])
        #expect(requests.withLock { $0 }.isEmpty)
    }

    /// `cluster_control -a` sends `Agent.get_agents_overview`: the registry's function answers what 4.8.1
    /// answered, byte for byte once encoded as the answer string.
    @Test func overviewKeepsItsAnswer() async throws {
        let bed = try AgentTestbed()
        let capture = DapiFixtures.call("control.get_agents")
        let decoded = try JSONParser.parse(await bed.run(try #require(capture.request)).bytes)
        #expect(jsonDifference(decoded, try #require(capture.response)) == nil)
        // Filters: status and node name (a comma list is any of its values).
        let body = AgentTestbed.request("wazuh.core.agent", "Agent.get_agents_overview", [
            "filters": ["status": "pending,disconnected", "node_name": "all"], "limit": nil, "select": ["id", "status"]])
        let filtered = try JSONParser.parse(await bed.run(body).bytes)
        let items = filtered["__wazuh_result__"]?["__object__"]?["result"]?["items"]
        #expect(items == [["id": "005", "status": "disconnected"], ["id": "010", "status": "pending"]])
    }
}

/// Options, errors and hostile input beyond the captures.
@Suite struct DapiAgentFunctionsTests {
    func affected(_ outcome: DapiOutcome, sourceLocation: SourceLocation = #_sourceLocation) -> AffectedItems? {
        if case .affected(let a) = outcome { return a }
        Issue.record("expected affected items, got \(outcome.json.compactText.prefix(400))", sourceLocation: sourceLocation)
        return nil
    }

    func ids(_ outcome: DapiOutcome, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        affected(outcome, sourceLocation: sourceLocation)?.affectedItems.compactMap { $0["id"]?.stringValue ?? $0.stringValue } ?? []
    }

    func getAgents(_ bed: AgentTestbed, _ kwargs: JSONValue) async -> DapiOutcome {
        await bed.run(AgentTestbed.request("wazuh.agent", "get_agents", kwargs))
    }

    func code(_ outcome: DapiOutcome) -> Int? {
        if case .exception(let e) = outcome { return e.code }
        return nil
    }

    @Test func filtersSearchQAndDistinct() async throws {
        let bed = try AgentTestbed()
        #expect(ids(await getAgents(bed, ["filters": ["status": ["pending", "disconnected"]], "select": ["id"]])) == ["005", "010"])
        #expect(ids(await getAgents(bed, ["filters": ["node_name": "worker2", "version": "Wazuh v4.7.5"]])) == ["010"])
        #expect(ids(await getAgents(bed, ["filters": ["group": "db"]])) == ["003", "004", "008"])
        #expect(ids(await getAgents(bed, ["filters": ["status": "all"], "limit": 2])) == ["000", "001"])
        #expect(ids(await getAgents(bed, ["search": ["value": "agent-0001", "negation": false], "select": ["name"]])) == ["010", "011", "012"])
        let negated = ids(await getAgents(bed, ["search": ["value": "worker", "negation": true], "select": ["node_name"]]))
        #expect(negated == ["000", "011", "012"])
        #expect(ids(await getAgents(bed, ["q": "os.platform=centos,(status=never_connected;id>11)"])) == ["010", "012"])
        #expect(ids(await getAgents(bed, ["q": "group!=web;node_name=worker1"])) == ["004", "005"])
        #expect(ids(await getAgents(bed, ["q": "lastKeepAlive<2026-12-01 22:10:00"])) == ["005"])
        #expect(ids(await getAgents(bed, ["agent_list": ["003", "7", "404"], "q": "group=web"])) == ["003", "007"])
        let distinct = try #require(affected(await getAgents(bed, ["select": ["node_name"], "distinct": true,
                                                                   "sort": ["fields": ["node_name"], "order": "asc"]])))
        #expect(distinct.affectedItems.map(\.materialized) == [["node_name": "master-node"], ["node_name": "unknown"], ["node_name": "worker1"], ["node_name": "worker2"]])
        #expect(distinct.totalAffectedItems == 4)
        // older_than: agents silent for longer (never connected ones by registration date).
        let old = ids(await getAgents(bed, ["filters": ["older_than": "0s"], "q": "id<6"]))
        #expect(old.count == 6)
        let sorted = ids(await getAgents(bed, ["sort": ["fields": ["status", "name"], "order": "desc"], "select": ["status"], "limit": 3]))
        #expect(sorted == ["010", "012", "011"])
    }

    @Test func listingErrorsAreWazuhErrors() async throws {
        let bed = try AgentTestbed()
        #expect(code(await getAgents(bed, ["limit": 100_001])) == 1405)
        #expect(code(await getAgents(bed, ["limit": 0])) == 1406)
        #expect(code(await getAgents(bed, ["offset": -1])) == 1400)
        #expect(code(await getAgents(bed, ["select": ["id", "internal_key"]])) == 1724)
        #expect(code(await getAgents(bed, ["sort": ["fields": ["nope"], "order": "asc"]])) == 1403)
        #expect(code(await getAgents(bed, ["sort": ["fields": ["id"], "order": "sideways"]])) == 1402)
        #expect(code(await getAgents(bed, ["q": "status=active;("])) == 1407)
        #expect(code(await getAgents(bed, ["q": "nope=1"])) == 1408)
        #expect(code(await getAgents(bed, ["q": "id>=1"])) == 1409)
        #expect(code(await getAgents(bed, ["q": "id>x"])) == 1407)
        #expect(code(await getAgents(bed, ["filters": ["older_than": "soon"]])) == 1411)
        #expect(code(await getAgents(bed, ["q": "dateAdd<yesterday"])) == 1412)
        guard case .exception(let e) = await getAgents(bed, ["limit": "lots"]) else { Issue.record("accepted limit 'lots'"); return }
        #expect(e.message.contains("argument 'limit' of wazuh.agent.get_agents must be an integer, got a string"))
        // Quotes in values are data, not SQL.
        #expect(ids(await getAgents(bed, ["q": "name=x' OR '1'='1"])) == [])
        #expect(ids(await getAgents(bed, ["q": "name~%"])) == [])
    }

    @Test func keysOfTheManagerAndUnknownAgents() async throws {
        let bed = try AgentTestbed()
        let a = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "get_agents_keys", ["agent_list": ["000", "012", "099"]]))))
        #expect(a.affectedItems.map { $0["id"] } == ["012"])
        let key = try #require(a.affectedItems.first?["key"]?.stringValue)
        #expect(String(decoding: Data(base64Encoded: key) ?? Data(), as: UTF8.self) == "012 agent-00012 any 00000000000000000000000000000012")
        #expect(a.failedItems.map(\.error.code) == [1703, 1701])
    }

    @Test func hostileGroupNamesWriteNothing() async throws {
        let bed = try AgentTestbed()
        let before = try FileManager.default.subpathsOfDirectory(atPath: bed.home).sorted()
        for name in ["../evil", "a/b", "..", ".", "", "x y", String(repeating: "g", count: 256)] {
            let outcome = await bed.run(AgentTestbed.request("wazuh.agent", "create_group", ["group_id": .string(name)]))
            #expect(code(outcome) == 1722, "\(name)")
        }
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "create_group", ["group_id": "web"]))) == 1711)
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "create_group", ["group_id": "agent-template.conf"]))) == 1713)
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "create_group", ["group_id": 7]))) == 1000)
        let deleted = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "delete_groups", [
            "group_list": ["../etc", "default", "nope", "shared/web"]]))))
        #expect(deleted.affectedItems.isEmpty)
        #expect(deleted.failedItems.map { [String($0.error.code)] + $0.ids } == [["1722", "../etc", "shared/web"], ["1712", "default"], ["1710", "nope"]])
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "assign_agents_to_group", ["group_list": ["../web"], "agent_list": ["001"]]))) == 1722)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: bed.home).sorted() == before)
        #expect(try bed.store.agents().allSatisfy { $0.groupSyncStatus == "synced" })
    }

    @Test func assignAndRemoveFailures() async throws {
        let bed = try AgentTestbed()
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "assign_agents_to_group", ["group_list": ["nope"], "agent_list": ["001"]]))) == 1710)
        let a = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "assign_agents_to_group", [
            "group_list": ["web"], "agent_list": ["000", "001", "004", "404"]]))))
        #expect(a.affectedItems == ["004"])
        #expect(a.failedItems.map { [String($0.error.code)] + $0.ids } == [["1703", "000"], ["1751", "001"], ["1701", "404"]])
        #expect(try bed.groups(4) == ["default", "db", "web"])
        // replace: the group becomes the agent's only one.
        let r = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "assign_agents_to_group", [
            "group_list": ["db"], "agent_list": ["003"], "replace": true]))))
        #expect(try r.affectedItems == ["003"] && bed.groups(3) == ["db"])

        // remove_agent_from_groups: per-group failures; an agent left with none goes back to default.
        let g = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agent_from_groups", [
            "agent_list": ["003"], "group_list": ["db", "web", "nope"]]))))
        #expect(g.affectedItems == ["db"])
        #expect(g.failedItems.map { [String($0.error.code)] + $0.ids } == [["1734", "web"], ["1710", "nope"]])
        #expect(try bed.groups(3) == ["default"])
        let d = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agent_from_groups", [
            "agent_list": ["003"], "group_list": ["default"]]))))
        #expect(d.failedItems.map(\.error.code) == [1745])
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agent_from_groups", ["agent_list": ["404"], "group_list": ["web"]]))) == 1701)
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agent_from_groups", ["agent_list": ["000"], "group_list": ["web"]]))) == 1703)

        // remove_agents_from_group: every member when no list is given.
        let m = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agents_from_group", ["group_list": ["web"]]))))
        #expect(m.affectedItems == ["001", "002", "004", "006", "007"] && m.failedItems.isEmpty)  // 004 was assigned above
        #expect(m.allMsg == "All selected agents were removed from group web")
        #expect(try bed.store.groupCounts()["web"] == 0)
        #expect(try bed.groups(4) == ["default", "db"] && bed.groupSyncStatus(6) == "syncreq")
        let n = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "remove_agents_from_group", [
            "group_list": ["db"], "agent_list": ["001", "004", "000"]]))))
        #expect(n.affectedItems == ["004"] && n.failedItems.map(\.error.code) == [1703, 1734])
    }

    @Test func deleteGroupReturnsItsAgentsToDefault() async throws {
        let bed = try AgentTestbed()
        _ = await bed.run(AgentTestbed.request("wazuh.agent", "assign_agents_to_group", ["group_list": ["db"], "agent_list": ["009"], "replace": true]))
        #expect(try bed.groups(9) == ["db"])
        let a = try #require(affected(await bed.run(AgentTestbed.request("wazuh.agent", "delete_groups", ["group_list": ["db"]]))))
        #expect(a.affectedItems == ["db"])
        #expect(try bed.groups(9) == ["default"] && bed.groups(3) == ["default", "web"])
        #expect(try bed.groupSyncStatus(4) == "syncreq")
        #expect(!FileManager.default.fileExists(atPath: bed.home + "/etc/shared/db"))
    }

    @Test func addAgentThroughTheRegistrationService() async throws {
        let bed = try AgentTestbed()
        let seen = Mutex<[String]>([])
        let registration: @Sendable ([UInt8]) async -> String = { bytes in
            seen.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
            if (try? JSONParser.parse(bytes))?["arguments"]?["name"] == "agent-00001" { return #"{"error":9008,"message":"Duplicate name"}"# }
            return #"{"error":0,"data":{"id":"013","name":"new-one","ip":"any","key":"abcd"}}"#
        }
        let outcome = await bed.run(AgentTestbed.request("wazuh.agent", "add_agent", ["name": "new-one"]), registration: registration)
        guard case .result(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.result["data"]?["id"] == "013")
        #expect(r.result["data"]?["key"]?.stringValue == Data("013 new-one any abcd".utf8).base64EncodedString())
        #expect(seen.withLock { $0 } == [#"{"function":"add","arguments":{"name":"new-one","ip":"any"}}"#])
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "add_agent", ["name": "agent-00001"]), registration: registration)) == 1705)
        #expect(code(await bed.run(AgentTestbed.request("wazuh.agent", "add_agent", ["name": "x"]))) == 1726)
    }

    @Test func storeFailuresAreInternalErrors2008() async throws {
        let bed = try AgentTestbed()
        try bed.sql("DROP TABLE belongs")
        guard case .exception(let e) = await bed.run(AgentTestbed.request("wazuh.agent", "get_agent_groups", [:])) else {
            Issue.record("a broken database answered"); return
        }
        #expect(e.code == 2008 && e.kind == .internalError && e.message.contains("global.db"), "\(e)")
    }

    /// `get_agents` with limit 500 of 50,000 agents: filtering, ordering and paging happen in SQL.
    @Test func fiftyThousandAgentsPageQuickly() async throws {
        let bed = try AgentTestbed(seed: false)
        let entries = (1...50_000).map { (id: $0, name: "agent-\($0)", ip: "10.\($0 / 65536).\($0 / 256 % 256).\($0 % 256)", key: String(repeating: "k", count: 32)) }
        _ = try bed.store.loadClientKeys(entries)
        func best(_ kwargs: JSONValue) throws -> (ms: Double, listing: AgentListing) {
            let request = try DapiRequest.parse(Array(AgentTestbed.request("wazuh.agent", "get_agents", kwargs).compactText.utf8)).get()
            let query = try DapiAgentSupport.query(DapiCall(request: request, env: bed.env())).compile()
            var best = Double.infinity
            var listing = AgentListing(items: [], total: 0)
            for _ in 0..<5 {
                let start = ContinuousClock.now
                listing = try bed.store.listAgents(query)
                let elapsed = ContinuousClock.now - start
                best = min(best, Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            }
            return (best, listing)
        }
        let first = try best(["offset": 0, "limit": 500, "filters": [:]])
        #expect(first.listing.total == 50_001 && first.listing.items.count == 500)
        #expect(first.listing.items.last?["id"] == "499")
        let deep = try best(["offset": 49_000, "limit": 500, "filters": [:]])
        #expect(deep.listing.items.first?["id"] == "49000")
        let filtered = try best(["offset": 0, "limit": 500, "filters": ["status": ["never_connected"]], "q": "name~agent-4"])
        #expect(filtered.listing.total == 11_111 && filtered.listing.items.count == 500)
        // 5 ms is the target for an optimized build; a debug build renders the 500 objects several times slower.
        #expect(first.ms < 50 && deep.ms < 50 && filtered.ms < 80, "first page \(first.ms) ms, offset 49000 \(deep.ms) ms, filtered \(filtered.ms) ms")
        print("get_agents, 500 of 50,001 agents: first page \(first.ms) ms, offset 49000 \(deep.ms) ms, q+filter \(filtered.ms) ms")
    }
}
