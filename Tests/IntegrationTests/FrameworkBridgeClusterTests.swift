import Common
import Foundation
import Testing

/// The framework bridge across real processes: a master whose home holds the stand-in framework of
/// `Tests/Fixtures/framework-standin` (our test package, not Wazuh's) and a worker without one; requests
/// made on the worker's local socket as its Wazuh API would.
@Suite(.serialized) struct FrameworkBridgeClusterTests {
    static let fixture = Harness.packageRoot.appendingPathComponent("Tests/Fixtures/framework-standin/wazuh").path

    /// Lays the stand-in framework under `home`: `framework/wazuh` and `framework/python/bin/python3`.
    static func installFramework(in home: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: home + "/framework/python/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: fixture, toPath: home + "/framework/wazuh")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let python = try #require(path.split(separator: ":").map { "\($0)/python3" }.first { fm.isExecutableFile(atPath: $0) })
        try fm.createSymbolicLink(atPath: home + "/framework/python/bin/python3", withDestinationPath: python)
    }

    /// The framework executors `daemon` started (its children running our executor script).
    static func executors(of daemon: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == daemon else { return false }
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return String(decoding: cmdline, as: UTF8.self).contains("clusterd-framework-executor")
        }.sorted()
    }

    /// Running (a zombie waiting for a reaper that is not us does not count).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    struct Duo {
        let base: String
        let master: Node, worker: Node

        init(_ label: String, master spec: Harness.NodeSpec = .init(name: "master-node", type: "master", port: 0)) throws {
            base = Harness.tempDir(label)
            try FrameworkBridgeClusterTests.installFramework(in: base + "/master-node")
            let (m, port) = try Harness.startMaster(spec, in: base)
            let w = try Node(home: try Harness.makeHome(.init(name: "worker1", port: port), in: base))
            #expect(waitUntil { w.log.contains("Successfully connected to master.") }, "\(w.log.suffix(1500))")
            (master, worker) = (m, w)
        }

        func stop() {
            worker.stop()
            master.stop()
            try? FileManager.default.removeItem(atPath: base)
        }
    }

    /// The raw answer of a `dapi` on `home`'s socket (a `dapi_err` is thrown).
    static func raw(_ home: String, _ body: [UInt8]) throws -> [UInt8] {
        try LocalClient(home: home, timeout: 10, asyncTimeout: 30).execute(command: "dapi", payload: body)
    }

    static func body(_ module: String, _ qualname: String, _ kwargs: JSONObject = JSONObject(), type: String = "local_master",
                     timeout: Int = 10) -> [UInt8] {
        DapiClusterTests.body(module, qualname, kwargs, type: type, timeout: timeout)
    }

    @Test func aFunctionNotServedNativelyReachesTheStandinFrameworkAndItsAnswerComesBackThroughAWorker() throws {
        let duo = try Duo("bridge")
        defer { duo.stop() }
        // 4.8.1's master pool: process_pool_size 2, never more than the cores.
        let expected = min(2, ProcessInfo.processInfo.activeProcessorCount)
        #expect(duo.master.log.contains("[Master] [D API] Functions clusterd does not serve run in the Wazuh framework detected under \(duo.master.home)/framework"))
        #expect(duo.master.log.contains("\(expected) executor"))
        #expect(duo.worker.log.contains("[Worker worker1] [D API] No Wazuh framework found"))
        #expect(waitUntil { Self.executors(of: duo.master.pid).count == expected })
        let pids = Self.executors(of: duo.master.pid)

        // local_master from the worker: the worker relays it, the master's framework runs it, the
        // framework's encoding comes back to the worker's client as it was written.
        let bytes = try Self.raw(duo.worker.home, Self.body("wazuh.syscollector", "get_item_agent",
                                                            JSONObject([("agent_list", ["001"]), ("element_type", "os")])))
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"__wazuh_result__": {"__class__": "AffectedItemsWazuhResult""#))
        guard case .affected(let a) = DapiOutcome.decode(bytes), let item = a.affectedItems.first else {
            Issue.record("not an affected-items result: \(String(decoding: bytes, as: UTF8.self))"); return
        }
        #expect(item["agent_id"] == "001" && item["element_type"] == "os" && item["current_user"] == "wazuh" && item["origin_module"] == "API")
        #expect(pids.contains(Int32(item["pid"]?.intValue ?? 0)), "ran in one of the master's executors \(pids): \(item)")
        #expect(duo.master.log.contains("Receiving request: get_item_agent from worker1 ("))

        // distributed_master: the master fans it out; its own share runs in its framework.
        let spread = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.syscollector", "get_item_agent",
                                                                           JSONObject([("agent_list", ["000"])]), type: "distributed_master"))
        #expect(DapiClusterTests.items(spread).compactMap { $0["agent_id"]?.stringValue } == ["000"], "\(spread.json.pythonText)")

        // A raised WazuhError comes back encoded, naming the master.
        let failed = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "fail", JSONObject([("code", 2007)])))
        guard case .exception(let e) = failed else { Issue.record("\(failed.json.pythonText)"); return }
        #expect(e.code == 2007 && e.dapiErrors["master-node"]?["error"] == "Error retrieving data from Wazuh DB")
        // A module the framework does not have: dapi_err with Python's text, as 4.8.1.
        do {
            _ = try Self.raw(duo.worker.home, Self.body("wazuh.no_such_module", "get_agents"))
            Issue.record("a missing module was answered")
        } catch {
            #expect("\(error)".contains("No module named 'wazuh.no_such_module'"), "\(error)")
        }
        // The worker's own unserved functions still answer 3009 (it has no framework).
        let local = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "pid", type: "local_any"))
        guard case .exception(let refused) = local else { Issue.record("\(local.json.pythonText)"); return }
        #expect(refused.code == 3009)
        #expect(Self.executors(of: duo.master.pid) == pids, "the same executors served every request")

        // A function that hangs: 3021 after its api_timeout, its executor replaced.
        let hung = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "hang", timeout: 1))
        guard case .exception(let timedOut) = hung else { Issue.record("\(hung.json.pythonText)"); return }
        #expect(timedOut.code == 3021 && timedOut.dapiErrors["master-node"] != nil, "\(hung.json.pythonText)")
        #expect(waitUntil { let now = Self.executors(of: duo.master.pid); return now.count == expected && now != pids })
        #expect(duo.master.log.contains("ran wazuh.standin.hang longer than its timeout (1 s): killing it and starting another."))

        // An executor that exits: its request is told so, another starts, the next call works.
        let before = Self.executors(of: duo.master.pid)
        let died = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "die", JSONObject([("status", 3)])))
        guard case .exception(let d) = died else { Issue.record("\(died.json.pythonText)"); return }
        #expect(d.kind == .internalError && d.message.contains("ended (exit status 3) before answering"), "\(d.message)")
        #expect(d.dapiErrors["master-node"] != nil)
        let again = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "pid"))
        guard case .result(let r) = again, let pid = r.result["pid"]?.intValue else { Issue.record("\(again.json.pythonText)"); return }
        #expect(waitUntil { Self.executors(of: duo.master.pid).contains(Int32(pid)) })
        #expect(Set(Self.executors(of: duo.master.pid)) != Set(before))
        #expect(duo.master.log.contains("Framework executor ") && duo.master.log.contains(": the stand-in exits with status 3"))

        // An executor killed from outside: replaced, and the next call works.
        let victim = try #require(Self.executors(of: duo.master.pid).first)
        kill(victim, SIGKILL)
        #expect(waitUntil { let now = Self.executors(of: duo.master.pid); return now.count == expected && !now.contains(victim) })
        let afterKill = try DapiClusterTests.call(duo.worker.home, Self.body("wazuh.standin", "pid"))
        guard case .result(let k) = afterKill, k.result["pid"]?.intValue != nil else { Issue.record("\(afterKill.json.pythonText)"); return }
        #expect(duo.master.log.contains("Framework executor pid \(victim) ended (signal 9 (SIGKILL)) while idle; starting another."))

        // SIGTERM to the master: no executor outlives it.
        let last = Self.executors(of: duo.master.pid)
        #expect(duo.master.stop() == 0)
        #expect(last.allSatisfy { !Self.isAlive($0) }, "executors left after SIGTERM: \(last.filter(Self.isAlive))")
    }

    @Test func aKilledDaemonLeavesNoExecutorBehind() throws {
        let base = Harness.tempDir("bridge-kill")
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Self.installFramework(in: base + "/master-node")
        let (master, _) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        defer { master.stop() }
        #expect(waitUntil { !Self.executors(of: master.pid).isEmpty })
        let pids = Self.executors(of: master.pid)
        // No chance to stop them: they end with the daemon (PR_SET_PDEATHSIG), or at the end of their input.
        master.kill9()
        #expect(waitUntil(10) { pids.allSatisfy { !Self.isAlive($0) } }, "executors left after SIGKILL: \(pids.filter(Self.isAlive))")
    }
}
