@testable import ClusterNode
import Common
import Foundation
import NIOPosix
import Testing

/// A home with the stand-in framework of `Tests/Fixtures/framework-standin` (our test package, not
/// Wazuh's): `framework/wazuh` copied, `framework/python/bin/python3` a link to the system python3.
struct StandinFramework {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/framework-standin/wazuh").path

    /// The system python3 (first on PATH).
    static var systemPython: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Lays the framework under `home`.
    static func install(in home: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: home + "/framework/python/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: fixture, toPath: home + "/framework/wazuh")
        let python = try #require(systemPython, "python3 is on PATH (scripts/install-deps)")
        try fm.createSymbolicLink(atPath: home + "/framework/python/bin/python3", withDestinationPath: python)
    }
}

/// One bridge with real executors of the stand-in framework.
final class BridgeTestBed: @unchecked Sendable {
    let home: String
    let log: ClusterLog
    let bridge: FrameworkBridge
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    init(processes: Int = 1, path: String? = nil) throws {
        home = NSTemporaryDirectory() + "bridge-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: home + "/logs", withIntermediateDirectories: true)
        try StandinFramework.install(in: home)
        log = try ClusterLog(path: home + "/logs/cluster.log", level: .debug, mirrorToStderr: false)
        var options = InternalOptions()
        options.framework.processPoolSize = processes
        if let path { options.framework.path = path }
        let installation = try #require(try FrameworkInstallation.find(home: home, options: options, isMaster: true, cores: 8))
        bridge = FrameworkBridge(installation: installation, nodeName: "master-node", isMaster: true, log: log, loop: Self.group.next())
        bridge.start()
    }

    var logText: String { (try? String(contentsOfFile: home + "/logs/cluster.log", encoding: .utf8)) ?? "" }

    static func body(_ module: String, _ qualname: String, _ kwargs: JSONObject = JSONObject(), extra: JSONObject = JSONObject()) -> [UInt8] {
        let name = String(qualname.split(separator: ".").last ?? Substring(qualname))
        var body = JSONObject([
            ("f", ["__callable__": ["__name__": .string(name), "__module__": .string(module), "__qualname__": .string(qualname), "__type__": "function"]]),
            ("f_kwargs", .object(kwargs)), ("request_type", "local_master"), ("wait_for_complete", false),
            ("rbac_permissions", ["rbac_mode": "white"]), ("current_user", "operator"), ("broadcasting", true),
            ("nodes", ["master-node", "worker1"]), ("api_timeout", 10),
        ])
        for (k, v) in extra { body[k] = v }
        return PythonJSONEncoder().encodeBytes(.object(body))
    }

    func run(_ module: String, _ qualname: String, _ kwargs: JSONObject = JSONObject(), timeout: Double? = 10) async -> BridgeAnswer {
        await bridge.run(Self.body(module, qualname, kwargs), function: "\(module).\(qualname)", timeout: timeout)
    }

    /// The value of a `WazuhResult` answer.
    static func result(_ a: BridgeAnswer) -> JSONObject? {
        guard case .result(let bytes) = a, case .result(let r) = DapiOutcome.decode(bytes) else { return nil }
        return r.result
    }

    static func pid(_ a: BridgeAnswer) -> Int32? { result(a)?["pid"]?.intValue.map { Int32($0) } }

    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    /// Waits (polling, bounded) for `condition`; the bound is a limit on the wait, not a measurement.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    func stop() async {
        await bridge.shutdown()
        try? FileManager.default.removeItem(atPath: home)
    }
}

@Suite(.serialized) struct FrameworkBridgeTests {
    @Test func manyRequestsAreServedByTheSamePersistentExecutors() async throws {
        let bed = try BridgeTestBed(processes: 2)
        var seen: Set<Int32> = []
        for _ in 0..<8 { seen.insert(try #require(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")))) }
        let alive = Set(bed.bridge.pids)
        #expect(alive.count == 2 && seen.isSubset(of: alive), "pids \(seen) served, \(alive) alive")
        // Concurrent requests on a single executor queue and all get their answer from it.
        let single = try BridgeTestBed(processes: 1)
        let answers = await withTaskGroup(of: BridgeAnswer.self) { group in
            for i in 0..<5 { group.addTask { await single.run("wazuh.standin", "later", JSONObject([("value", .int(Int64(i))), ("delay", 0.05)])) } }
            var out: [BridgeAnswer] = []
            for await a in group { out.append(a) }
            return out
        }
        #expect(Set(answers.compactMap { BridgeTestBed.result($0)?["value"]?.intValue }) == [0, 1, 2, 3, 4])
        let served = BridgeTestBed.pid(await single.run("wazuh.standin", "pid"))
        #expect(single.bridge.pids.count == 1 && served == single.bridge.pids.first)
        await bed.stop()
        await single.stop()
    }

    @Test func theRequestContextReachesTheFunctionAndCoroutinesAreAwaited() async throws {
        let bed = try BridgeTestBed()
        let answer = await bed.run("wazuh.syscollector", "get_item_agent", JSONObject([("agent_list", ["001", "999"]), ("element_type", "os")]))
        guard case .result(let bytes) = answer, case .affected(let a) = DapiOutcome.decode(bytes) else {
            Issue.record("not an affected-items result: \(answer)"); return
        }
        let item = try #require(a.affectedItems.first)
        #expect(item["agent_id"] == "001" && item["element_type"] == "os")
        // rbac, current_user, broadcast, cluster_nodes from the request; origin_module 'API' (§2.3).
        #expect(item["rbac_mode"] == "white" && item["current_user"] == "operator" && item["broadcast"] == true)
        #expect(item["cluster_nodes"] == ["master-node", "worker1"] && item["origin_module"] == "API")
        #expect(a.failedItems.map(\.ids) == [["999"]] && a.failedItems.first?.error.code == 1701)
        // The framework's encoding is passed on byte for byte (not decoded and encoded again).
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"__wazuh_result__": {"__class__": "AffectedItemsWazuhResult", "__object__": {"affected_items": [{"agent_id": "001""#))
        let later = BridgeTestBed.result(await bed.run("wazuh.standin", "later", JSONObject([("value", "v")])))
        #expect(later?["value"] == "v" && later?["current_user"] == "operator")
        // A static method named by a dotted qualname, a datetime in the framework's encoding.
        #expect(BridgeTestBed.result(await bed.run("wazuh.standin", "Tool.describe", JSONObject([("name", "n")])))?["described"] == "n")
        #expect(BridgeTestBed.result(await bed.run("wazuh.standin", "stamped"))?["at"] == ["__wazuh_datetime__": "2024-06-01T10:00:00"])
        // The framework's context cache lasts one request, as in 4.8.1's run_local.
        let once = try #require(BridgeTestBed.result(await bed.run("wazuh.standin", "counted")))
        let twice = try #require(BridgeTestBed.result(await bed.run("wazuh.standin", "counted")))
        #expect(once["first"] == once["again"] && twice["first"] != once["first"], "\(once) \(twice)")
        // local_client_arg: the framework's LocalClient is passed under that name.
        let withClient = BridgeTestBed.body("wazuh.standin", "with_client", extra: JSONObject([("local_client_arg", "lc")]))
        let client = BridgeTestBed.result(await bed.bridge.run(withClient, function: "wazuh.standin.with_client", timeout: 10))
        #expect(client?["client"] == "LocalClient" && client?["made_by"] == "the executor")
        await bed.stop()
    }

    @Test func exceptionsComeBackEncodedNamingTheNode() async throws {
        let bed = try BridgeTestBed()
        guard case .exception(let bytes) = await bed.run("wazuh.standin", "fail", JSONObject([("code", 2007), ("extra", "no db for 007")])) else {
            Issue.record("a WazuhError did not come back as an exception"); return
        }
        let e = WazuhException.parse(payload: bytes)
        #expect(e.kind == .error && e.code == 2007 && e.extraMessage == "no db for 007")
        // get_error_info: the framework's own message, no logfile for a WazuhError.
        #expect(JSONValue.object(e.dapiErrors) == ["master-node": ["error": "Error retrieving data from Wazuh DB: no db for 007"]])
        // A plain Python error: WazuhInternalError 1000 with the generic message; the traceback is in the log.
        guard case .exception(let plain) = await bed.run("wazuh.standin", "boom") else { Issue.record("boom"); return }
        let wrapped = WazuhException.parse(payload: plain)
        #expect(wrapped.kind == .internalError && wrapped.code == 1000)
        #expect(wrapped.dapiErrors["master-node"]?["logfile"] == "WAZUH_HOME/logs/cluster.log")
        #expect(BridgeTestBed.eventually { bed.logText.contains("ERROR: [Master] [D API] Framework executor") && bed.logText.contains("ValueError: a plain Python error") },
                "\(bed.logText)")
        // A basic service down: 1017 naming it, as 4.8.1's check_wazuh_status; the status function itself still runs.
        try Data(#"{"wazuh-db": "stopped"}"#.utf8).write(to: URL(fileURLWithPath: bed.home + "/framework/daemon-states.json"))
        guard case .exception(let down) = await bed.run("wazuh.standin", "pid") else { Issue.record("ran with wazuh-db stopped"); return }
        #expect(WazuhException.parse(payload: down).code == 1017)
        #expect(WazuhException.parse(payload: down).dapiErrors["master-node"]?["error"] == #"Some Wazuh daemons are not ready yet in node "master-node" (wazuh-db->stopped)"#)
        guard case .result = await bed.run("wazuh.core.manager", "status") else { Issue.record("manager.status was refused"); return }
        try FileManager.default.removeItem(atPath: bed.home + "/framework/daemon-states.json")
        // Names the framework cannot import: refused with its text (a dapi_err), the executor stays.
        let pid = bed.bridge.pids
        #expect(await bed.run("wazuh.no_such_module", "get_agents") == .refused("No module named 'wazuh.no_such_module'"))
        #expect(await bed.run("wazuh.standin", "nope") == .refused("the framework has no function wazuh.standin.nope"))
        #expect(bed.bridge.pids == pid)
        await bed.stop()
    }

    @Test func aHungFunctionIs3021AndItsExecutorIsReplaced() async throws {
        let bed = try BridgeTestBed()
        let before = try #require(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")))
        #expect(await bed.run("wazuh.standin", "hang", timeout: 0.5) == .failed(.cluster(3021)))
        #expect(BridgeTestBed.eventually { !BridgeTestBed.isAlive(before) }, "the hung executor was killed")
        let after = try #require(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")))
        #expect(after != before)
        #expect(bed.logText.contains("Framework executor pid \(before) ran wazuh.standin.hang longer than its timeout (0.5 s): killing it"))
        await bed.stop()
    }

    @Test func anExecutorThatDiesIsReplacedAndItsRequestToldWhy() async throws {
        let bed = try BridgeTestBed()
        let before = try #require(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")))
        guard case .failed(let e) = await bed.run("wazuh.standin", "die", JSONObject([("status", 3)])) else {
            Issue.record("an executor that exits gave an answer"); return
        }
        #expect(e.kind == .internalError && e.message.contains("(pid \(before)) running wazuh.standin.die ended (exit status 3) before answering"))
        // Its last words reach the log at their level; the next request runs on a new executor.
        #expect(bed.logText.contains("ERROR: [Master] [D API] Framework executor \(before): the stand-in exits with status 3"), "\(bed.logText)")
        let after = try #require(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")))
        #expect(after != before && !BridgeTestBed.isAlive(before))
        // Killed from outside: the same.
        kill(after, SIGKILL)
        #expect(BridgeTestBed.eventually { bed.bridge.pids.count == 1 && bed.bridge.pids != [after] })
        #expect(BridgeTestBed.pid(await bed.run("wazuh.standin", "pid")) != nil)
        #expect(bed.logText.contains("Framework executor pid \(after) ended (signal 9 (SIGKILL)) while idle; starting another."))
        await bed.stop()
    }

    @Test func executorOutputIsLoggedCutAndRateLimitedWithoutBreakingTheAnswers() async throws {
        let bed = try BridgeTestBed()
        // print() goes to stdout, which the executor redirects to stderr: the answer frames are untouched.
        let printed = BridgeTestBed.result(await bed.run("wazuh.standin", "shout", JSONObject([("lines", 2), ("length", 5), ("text", "y")])))
        #expect(printed?["printed"] == 2)
        let pid = try #require(bed.bridge.pids.first)
        #expect(BridgeTestBed.eventually { bed.logText.contains("[D API] Framework executor \(pid): 1 yyyyy") })
        #expect(bed.logText.contains("WARNING: [Master] [D API] Framework executor \(pid): the stand-in logged a warning"))
        // A line of 10,002 bytes keeps its first 4,096.
        _ = await bed.run("wazuh.standin", "shout", JSONObject([("lines", 1), ("length", 10000), ("text", "z")]))
        #expect(BridgeTestBed.eventually { bed.logText.contains("[5906 more bytes not logged]") })
        let long = try #require(bed.logText.split(separator: "\n").first { $0.contains("more bytes not logged") })
        #expect(long.count < FrameworkBridge.maxLineLength + 200)
        // A flood: at most the burst is logged, and the rest is counted.
        let before = bed.logText.split(separator: "\n").count
        _ = await bed.run("wazuh.standin", "shout", JSONObject([("lines", 2000), ("length", 1)]))
        #expect(BridgeTestBed.eventually { bed.logText.contains("lines of framework executor output were not logged (more than 50 a second).") })
        #expect(bed.logText.split(separator: "\n").count - before < FrameworkBridge.lineBurst + 200)
        await bed.stop()
    }

    @Test func aFrameworkThatCannotBeImportedFailsItsRequestsWithTheReason() async throws {
        let empty = NSTemporaryDirectory() + "no-framework-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: empty + "/wazuh", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        // `wazuh` there is an empty directory: a namespace package without wazuh.core.
        let bed = try BridgeTestBed(path: empty)
        guard case .failed(let e) = await bed.run("wazuh.standin", "pid") else { Issue.record("ran without a framework"); return }
        #expect(e.message.contains("no framework executor could start to run wazuh.standin.pid: the last attempt ended with exit status 2"), "\(e.message)")
        #expect(bed.logText.contains("Cannot load the Wazuh framework"), "\(bed.logText)")
        #expect(bed.logText.contains("could not start (exit status 2); trying again in 1 s."))
        await bed.stop()
    }

    @Test func stoppingEndsEveryExecutor() async throws {
        let bed = try BridgeTestBed(processes: 2)
        #expect(BridgeTestBed.eventually { bed.bridge.pids.count == 2 })
        let pids = bed.bridge.pids
        // One of them busy with a function that never returns.
        async let hung = bed.run("wazuh.standin", "hang", timeout: nil)
        #expect(BridgeTestBed.eventually { bed.logText.contains("ready") })
        await bed.bridge.shutdown()
        #expect(pids.allSatisfy { !BridgeTestBed.isAlive($0) }, "executors left: \(pids.filter(BridgeTestBed.isAlive))")
        guard case .failed(let e) = await hung else { Issue.record("the hung request got an answer"); return }
        #expect(e.message.contains("the node stopped while wazuh.standin.hang ran") || e.message.contains("the node is stopping"))
        guard case .failed(let after) = await bed.run("wazuh.standin", "pid") else { Issue.record("ran after the stop"); return }
        #expect(after.message.contains("the node is stopping"))
        try? FileManager.default.removeItem(atPath: bed.home)
    }

    @Test func authenticationFunctionsDoNotWaitBehindABusyPool() async throws {
        let bed = try BridgeTestBed(processes: 1)
        let installation = bed.bridge.installation
        let lanes = FrameworkLanes(installation: installation, nodeName: "master-node", isMaster: true, log: bed.log, loop: BridgeTestBed.group.next())
        lanes.start()
        // The general pool's one executor hangs; the authentication lane (started now) still answers.
        let general = DapiRequest.Callable(module: "wazuh.standin", qualname: "hang", name: "hang")
        async let hung = lanes.lane(for: general).run(BridgeTestBed.body("wazuh.standin", "hang"), function: "wazuh.standin.hang", timeout: 30)
        #expect(BridgeTestBed.eventually { lanes.general.pids.count == 1 } && lanes.authentication.pids.isEmpty)
        let security = DapiRequest.Callable(module: "wazuh.security", qualname: "get_security_conf", name: "get_security_conf")
        let conf = BridgeTestBed.result(await lanes.lane(for: security).run(BridgeTestBed.body("wazuh.security", "get_security_conf"),
                                                                            function: "wazuh.security.get_security_conf", timeout: 10))
        #expect(conf?["auth_token_exp_timeout"] == 900)
        #expect(lanes.authentication.pids.count == 1 && conf?["pid"]?.intValue == Int64(lanes.authentication.pids[0]))
        await lanes.shutdown()
        _ = await hung
        await bed.stop()
    }

    @Test func theDistributedAPIHandsWhatItDoesNotServeToTheBridge() async throws {
        let node = try DapiMasterTestNode()
        try StandinFramework.install(in: node.home)
        let installation = try #require(try FrameworkInstallation.find(home: node.home, options: InternalOptions(), isMaster: true, cores: 2))
        let lanes = FrameworkLanes(installation: installation, nodeName: "master-node", isMaster: true, log: node.ctx.log, loop: BridgeTestBed.group.next())
        lanes.start()
        node.dapi.attach(bridge: lanes)
        // A queue's request: the framework's bytes are the answer.
        let pid = DapiMasterTestNode.body(module: "wazuh.standin", qualname: "pid")
        guard case .result(let bytes) = await node.dapi.solve(pid, from: "worker1", client: "7", tag: "Master"),
              case .result(let r) = DapiOutcome.decode(bytes) else { Issue.record("no result"); return }
        #expect(lanes.general.pids.contains(Int32(r.result["pid"]?.intValue ?? 0)) && r.result["origin_module"] == "API")
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"__wazuh_result__": {"__class__": "WazuhResult", "__object__": {"str_priority": null, "result": {"pid": \#(r.result["pid"]!.intValue!), "origin_module": "API"}}}}"#)
        // What the framework cannot import is a dapi_err, logged like a bad request.
        let missing = DapiMasterTestNode.body(module: "wazuh.no_such_module", qualname: "get_agents")
        #expect(await node.dapi.solve(missing, from: "worker1", client: "7", tag: "Master") == .error("No module named 'wazuh.no_such_module'"))
        #expect(node.log.contains("Error in distributed API request from worker1 (7): No module named 'wazuh.no_such_module'"))
        // Local execution (the master's own share of a fanned-out request): the value, decoded.
        let outcome = await node.dapi.executeLocal(try DapiRequest.parse(pid).get())
        guard case .result(let value) = outcome else { Issue.record("\(outcome)"); return }
        #expect(value.result["origin_module"] == "API")
        // A function the registry serves never reaches the framework (which has no wazuh.agent: it would refuse it).
        let agents = await node.dapi.solve(DapiMasterTestNode.body(module: "wazuh.agent", qualname: "get_agents"), from: "worker1", client: "7", tag: "Master")
        guard case .result(let native) = agents, case .affected = DapiOutcome.decode(native) else { Issue.record("\(agents)"); return }
        await lanes.shutdown()
    }

    @Test func frameworkDetectionAndOptions() throws {
        let home = NSTemporaryDirectory() + "detect-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        // Nothing there: no bridge.
        #expect(try FrameworkInstallation.find(home: home, options: InternalOptions(), isMaster: true) == nil)
        try StandinFramework.install(in: home)
        let found = try #require(try FrameworkInstallation.find(home: home, options: InternalOptions(), isMaster: true, cores: 8))
        #expect(found.python == home + "/framework/python/bin/python3" && found.path == home + "/framework")
        // 4.8.1's sizes: master process_pool_size (2), worker 1, never more than the cores.
        #expect(found.processes == 2)
        #expect(try FrameworkInstallation.find(home: home, options: InternalOptions(), isMaster: false, cores: 8)?.processes == 1)
        let sized = try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"intervals": {"master": {"process_pool_size": 6}}}"#.utf8)), file: "x.json")
        #expect(try FrameworkInstallation.find(home: home, options: sized, isMaster: true, cores: 4)?.processes == 4)
        // The options' section: python, path, size, enabled; bad values name their key.
        let python = try #require(StandinFramework.systemPython)
        let named = try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"framework": {"python": "\#(python)", "path": "\#(home)/framework", "process_pool_size": 3}}"#.utf8)), file: "x.json")
        let explicit = try #require(try FrameworkInstallation.find(home: "/nonexistent", options: named, isMaster: false, cores: 8))
        #expect(explicit.python == python && explicit.processes == 3 && explicit.origin == "from x.json")
        let off = try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"framework": {"enabled": false}}"#.utf8)), file: "x.json")
        #expect(try FrameworkInstallation.find(home: home, options: off, isMaster: true) == nil)
        #expect(throws: ConfigError.self) { try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"framework": {"python": "python3"}}"#.utf8)), file: "x.json") }
        #expect(throws: ConfigError.self) { try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"framework": {"pool": 2}}"#.utf8)), file: "x.json") }
        let missing = try InternalOptions.overriding(with: try JSONParser.parse(Array(#"{"framework": {"python": "/nonexistent/python3"}}"#.utf8)), file: "x.json")
        do {
            _ = try FrameworkInstallation.find(home: home, options: missing, isMaster: true)
            Issue.record("a python that is not there was accepted")
        } catch {
            #expect(error.field == "framework.python" && error.problem.contains("/nonexistent/python3 is not an executable file"))
        }
    }
}
