import Common
import Foundation
import Testing

/// The wazuh-db backend across real processes, with `wdb-sim` as wazuh-db.
@Suite(.serialized) struct WazuhDBBackendTests {
    /// The agent-info columns a worker reports, as the master must end up holding them.
    static func reported(_ agents: [AgentRecord]) -> [String] {
        agents.filter { $0.id > 0 }.map {
            [$0.paddedID, $0.name, $0.nodeName, $0.connectionStatus, $0.version ?? "-", "\($0.lastKeepalive ?? -1)",
             $0.osName ?? "-", $0.osVersion ?? "-", $0.osPlatform ?? "-", $0.osArch ?? "-", $0.ip ?? "-"].joined(separator: "|")
        }
    }

    /// wazuh-db dies while the worker pages through `sync-agent-info-get` and comes back: that round fails
    /// with one log line, the next one succeeds, and the master's rows equal the worker's. clusterd never
    /// has `global.db` open meanwhile (sampled through /proc while the rounds run).
    @Test func wazuhDBRestartingInTheMiddleOfAnAgentInfoRound() throws {
        let t = try AgentsClusterTests.Trio("wdb-restart", backend: .wazuhDB,
                                            intervals: ["worker": ["sync_agent_info": 3]],
                                            wdbArgs: ["worker1": ["--crash-after-due-pages", "1"]])
        defer { t.stop() }
        var openedGlobalDB: [String] = []
        let sample = {
            for n in t.nodes { openedGlobalDB += ProcFS.openFiles(n.pid).filter { $0.contains("global.db") } }
        }
        // 500 agents through worker1; its wazuh-db learns them from client.keys (wazuh-modulesd's part).
        let reg = try runTool("agent-sim", ["register", "--home", t.w1.home, "-n", "500", "--json"])
        #expect(reg.status == 0, "\(reg.err)")
        let w1Store = try AgentStore.open(home: t.w1.home, nodeName: "worker1")
        #expect(waitUntil(30) { sample(); return ((try? w1Store.agents()) ?? []).count == 501 }, "worker1's wazuh-db:\n\(t.wdb["worker1"]!.log.suffix(1500))")
        // Keep-alives of every agent: several pages of agent-info (64 KiB each); wazuh-db dies after the first.
        let sim = try runTool("agent-sim", ["keepalive", "--home", t.w1.home])
        #expect(sim.status == 0, "\(sim.err)")
        let wdb = try #require(t.wdb["worker1"])
        #expect(waitUntil(20) { sample(); return !wdb.isRunning }, "wdb-sim did not crash:\n\(wdb.log.suffix(1500))")
        #expect(wdb.log.contains("crashing before answering global sync-agent-info-get"))
        #expect(waitUntil(10) { sample(); return t.w1.log.contains("Could not obtain data from wazuh-db") }, "\(t.w1.log.suffix(2000))")
        try wdb.restart()
        let masterStore = try AgentStore.open(home: t.master.home, nodeName: "master-node")
        #expect(waitUntil(30) {
            sample()
            let worker = Self.reported((try? w1Store.agents()) ?? [])
            return worker.count == 500 && worker == Self.reported((try? masterStore.agents()) ?? [])
        }, "master:\n\(t.master.log.suffix(2000))\nworker1:\n\(t.w1.log.suffix(2000))")
        #expect(((try? masterStore.agents()) ?? []).filter { $0.nodeName == "worker1" && $0.connectionStatus == "active" }.count == 500)
        #expect(t.w1.log.components(separatedBy: "Could not obtain data from wazuh-db").count == 2, "one line for the failed round:\n\(t.w1.log.suffix(3000))")
        let finished = t.w1.log.components(separatedBy: "\n").filter { $0.contains("[Agent-info sync] Finished in") && !$0.contains("Updated 0 chunks") }
        #expect(finished.count >= 2, "the failed round's pages and the next round's")
        #expect(openedGlobalDB.isEmpty, "\(openedGlobalDB)")
        t.checkBackend()
    }

    /// wazuh-db is not there when the node starts (wazuh-control starts the cluster daemon first): the node
    /// picks the wazuh-db backend from the home's `bin/wazuh-db`, its rounds fail with a clear line, and
    /// work once wazuh-db listens.
    @Test func wazuhDBStartingAfterTheNode() throws {
        let base = Harness.tempDir("wdb-late")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let masterHome = base + "/master-node"
        try FileManager.default.createDirectory(atPath: masterHome + "/bin", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: masterHome + "/bin/wazuh-db", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        defer { master.stop() }
        #expect(master.log.contains("Agent database: wazuh-db at \(masterHome)/queue/db/wdb (\(masterHome)/bin/wazuh-db is installed)."), "\(master.log.prefix(2000))")
        #expect(master.log.contains("wazuh-db is not listening yet"))
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port), in: base)
        let worker = try Node(home: workerHome)
        defer { worker.stop() }
        #expect(waitUntil { worker.log.contains("Successfully connected to master.") })
        // A DAPI call needing the master's database answers with the wazuh-db failure, not a hang.
        let body = DapiClusterTests.body("wazuh.agent", "get_agents", JSONObject([("offset", 0), ("limit", 10)]))
        let refused = try DapiClusterTests.call(workerHome, body)
        guard case .exception(let e) = refused else { Issue.record("\(refused.json.pythonText)"); return }
        #expect("\(e)".contains("wazuh-db"), "\(e)")
        // wazuh-db comes up: the same call is answered from it.
        let sim = try WdbSim(home: masterHome, nodeName: "master-node", worker: false)
        defer { sim.stop() }
        let answered = try DapiClusterTests.call(workerHome, body)
        #expect(DapiClusterTests.ids(answered) == ["000"], "\(answered.json.pythonText.prefix(400))")
        #expect(sim.log.contains("global sql SELECT"))
        #expect(ProcFS.openFiles(master.pid).allSatisfy { !$0.contains("global.db") })
    }
}
