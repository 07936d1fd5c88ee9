@testable import ClusterNode
import Common
import Foundation
import Testing

/// A master node's DAPI without sockets: a home in a temporary directory, its store and log.
final class DapiMasterTestNode: @unchecked Sendable {
    let home: String
    let ctx: NodeContext
    let store: AgentStore
    let dapi: DapiNode

    init(name: String = "master-node", type: NodeType = .master) throws {
        home = NSTemporaryDirectory() + "dapinode-\(UUID().uuidString.prefix(8))"
        for dir in ["logs", "etc/shared/default", "queue/db", "queue/cluster"] {
            try FileManager.default.createDirectory(atPath: home + "/" + dir, withIntermediateDirectories: true)
        }
        let config = ClusterConfig(name: "wazuh", nodeName: name, nodeType: type, key: "WazuhPeerTestKey0123456789abcdef")
        let log = try ClusterLog(path: home + "/logs/cluster.log", level: .debug, mirrorToStderr: false)
        ctx = try NodeContext(home: home, config: config, options: InternalOptions(), log: log, pool: Self.pool)
        store = try AgentStore.open(home: home, nodeName: name)
        dapi = DapiNode(ctx: ctx, store: store, clients: LocalClients())
    }

    var log: String { (try? String(contentsOfFile: home + "/logs/cluster.log", encoding: .utf8)) ?? "" }

    static func body(module: String, qualname: String, kwargs: String = "{}", extra: String = "") -> [UInt8] {
        let name = qualname.split(separator: ".").last.map(String.init) ?? qualname
        return Array(#"{"f": {"__callable__": {"__name__": "\#(name)", "__module__": "\#(module)", "__qualname__": "\#(qualname)", "__type__": "function"}}, "f_kwargs": \#(kwargs)\#(extra)}"#.utf8)
    }

    /// One pool for every test node, for the life of the test process (nothing to shut down per node).
    static let pool = CPUPool(threads: 2)

    deinit { try? FileManager.default.removeItem(atPath: home) }
}

@Suite struct DapiNodeTests {
    static func exception(_ answer: DapiAnswer) -> WazuhException? {
        guard case .result(let bytes) = answer, case .exception(let e) = DapiOutcome.decode(bytes) else { return nil }
        return e
    }

    @Test func aFunctionClusterdDoesNotServeIsANamedErrorLoggedOnce() async throws {
        let node = try DapiMasterTestNode()
        let body = DapiMasterTestNode.body(module: "wazuh.mitre", qualname: "get_metadata")
        for _ in 0..<2 {
            let e = try #require(Self.exception(await node.dapi.solve(body, from: "worker1", client: "7", tag: "Master")))
            #expect(e.kind == .error && e.code == 3009)
            #expect(e.description.contains("clusterd does not serve the API function wazuh.mitre.get_metadata"))
            #expect(e.dapiErrors["master-node"]?["error"]?.stringValue?.contains("wazuh.mitre.get_metadata") == true)
        }
        // The queue logs the real function name; the refusal is logged once.
        #expect(node.log.contains("Receiving request: get_metadata from worker1 (7)"))
        #expect(node.log.components(separatedBy: "Refused a request for wazuh.mitre.get_metadata").count == 2)
    }

    @Test func authenticationFunctionsAreNotOursToAnswer() async throws {
        let node = try DapiMasterTestNode()
        let e = try #require(Self.exception(await node.dapi.solve(DapiMasterTestNode.body(module: "wazuh.core.security", qualname: "check_token"),
                                                                  from: "worker1", client: "1", tag: "Master")))
        #expect(e.description.contains("wazuh.core.security.check_token is an API authentication function"))
    }

    @Test func badBodiesAndForeignModulesAreDapiErrors() async throws {
        let node = try DapiMasterTestNode()
        let notJSON = await node.dapi.solve(Array(#"{"f": {"__callable__": {"#.utf8), from: "master-node", client: "1", tag: "Local 1")
        #expect(notJSON == .error("JSON couldn't be loaded: the distributed API request is not a JSON object"))
        let foreign = await node.dapi.solve(DapiMasterTestNode.body(module: "os", qualname: "system"), from: "master-node", client: "1", tag: "Local 1")
        guard case .error(let text) = foreign else { Issue.record("a module outside wazuh/api ran: \(foreign)"); return }
        #expect(text.contains("'os.system' is outside them"))
        #expect(node.log.contains("Error in distributed API request from master-node (1)"))
    }

    @Test func executionLongerThanItsTimeoutIs3021() async {
        let outcome = await DapiNode.bounded(0.05) {
            try? await Task.sleep(nanoseconds: 5_000_000_000)
            return .result(WazuhResultValue(JSONObject()))
        }
        #expect(outcome == .exception(.cluster(3021)))
        // Without a limit the function's own answer comes back.
        #expect(await DapiNode.bounded(nil) { .result(WazuhResultValue(JSONObject([("x", 1)]))) } == .result(WazuhResultValue(JSONObject([("x", 1)]))))
    }

    @Test func internalErrorsNameTheNodeAndTheLogFile() throws {
        let node = try DapiMasterTestNode()
        let e = node.dapi.named(.internal(1010, "/var/ossec/queue/alerts/ar"))
        #expect(e.dapiErrors["master-node"] == ["error": "Unable to connect to queue: /var/ossec/queue/alerts/ar", "logfile": "WAZUH_HOME/logs/cluster.log"])
        // An error that already names its node keeps it.
        #expect(node.dapi.named(e).dapiErrors.count == 1)
    }

    @Test func kwargsOfTheWrongTypeAreNamed() throws {
        let node = try DapiMasterTestNode()
        let request = try DapiRequest.parse(DapiMasterTestNode.body(module: "wazuh.agent", qualname: "get_agents", kwargs: #"{"limit": "many", "agent_list": [{"x": 1}]}"#)).get()
        let call = DapiCall(request: request, env: node.dapi.environment())
        #expect(throws: WazuhException.self) { try call.int("limit") }
        do { _ = try call.stringList("agent_list"); Issue.record("a list of objects was accepted") } catch {
            #expect(error.description.contains("argument 'agent_list' of wazuh.agent.get_agents must be a list of strings, got a list"))
        }
    }

    @Test func aNodeThatDoesNotExistIsAFailedItem1730AndNothingIsForwarded() async throws {
        // A master without workers: forward_request of a node-routed request.
        let node = try DapiMasterTestNode()
        let master = Master(ctx: node.ctx, store: node.store, dapi: node.dapi)
        node.dapi.attach(master: master)
        let body = DapiMasterTestNode.body(module: "wazuh.manager", qualname: "get_basic_info", kwargs: #"{"node_id": "worker9"}"#,
                                     extra: #", "request_type": "distributed_master""#)
        guard case .result(let bytes) = await node.dapi.solve(body, from: "master-node", client: "1", tag: "Local 1"),
              case .affected(let a) = DapiOutcome.decode(bytes) else { Issue.record("not an affected-items result"); return }
        // As 4.8.1: an unknown node is a failed item 1730, and nothing is forwarded.
        #expect(a.affectedItems.isEmpty && a.failedItems.map(\.ids) == [["worker9"]] && a.failedItems[0].error.code == 1730)
        #expect(a.allMsg == "All selected nodes information was returned")
    }
}

/// clusterd(8) lists every function the registry serves.
@Suite struct DapiManPageTests {
    @Test func theManPageListsEveryServedFunction() throws {
        let man = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("man/clusterd.8")
        let text = try String(contentsOf: man, encoding: .utf8)
        let section = try #require(text.components(separatedBy: ".SH DISTRIBUTED API").dropFirst().first?.components(separatedBy: "\n.SH ").first)
        #expect(DapiRegistry.names.count >= 30)
        for key in DapiRegistry.functions.keys {
            #expect(section.contains(key.module) && section.contains(key.qualname), "clusterd(8) does not list \(key.module).\(key.qualname)")
        }
    }
}
