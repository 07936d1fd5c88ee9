import Common
import Foundation
import Testing

/// `cluster_control` against real daemons: master answers directly, a worker relays to the master.
@Suite(.serialized) struct ClusterControlLiveTests {
    @Test func listAndHealthOnMasterAndWorker() throws {
        let base = Harness.tempDir("control")
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        let w1 = try Node(home: try Harness.makeHome(.init(name: "worker1", port: port), in: base))
        defer { w1.stop(); master.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil { w1.log.contains("Successfully connected to master.") })
        let w2 = try Node(home: try Harness.makeHome(.init(name: "worker2", port: port), in: base))
        defer { w2.stop() }
        #expect(waitUntil { w2.log.contains("Successfully connected to master.") })

        let expectedList = """
        NAME         TYPE    VERSION  ADDRESS    
        master-node  master  4.8.1    127.0.0.1  
        worker1      worker  4.8.1    127.0.0.1  
        worker2      worker  4.8.1    127.0.0.1  

        """
        for home in [master.home, w2.home] {
            let l = try runTool("cluster_control", ["--home", home, "-l"])
            #expect(l.status == 0, "\(l.err)")
            #expect(l.out == expectedList, "from \(home)")
        }
        let filtered = try runTool("cluster_control", ["--home", w1.home, "-l", "-fn", "worker1"])
        #expect(filtered.out == "NAME     TYPE    VERSION  ADDRESS    \nworker1  worker  4.8.1    127.0.0.1  \n")

        let json = try runTool("cluster_control", ["--home", master.home, "-l", "--json"])
        let parsed = try JSONParser.parse(json.out.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(parsed.arrayValue?.count == 3 || parsed["items"]?.arrayValue?.count == 3, "\(json.out)")

        let health = try runTool("cluster_control", ["--home", w1.home, "-i"])
        #expect(health.status == 0, "\(health.err)")
        let lines = health.out.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "Cluster name: wazuh")
        #expect(health.out.contains("Last completed synchronization for connected nodes (2):"))
        #expect(health.out.range(of: #"    worker1 \(127\.0\.0\.1\): Integrity check: (n/a|[0-9T:.-]+Z) \| Integrity sync: (n/a|[0-9T:.-]+Z) \| Agents-info: (n/a|[0-9T:.-]+Z) \| Agent-groups: (n/a|[0-9T:.-]+Z) \| Agent-groups full: (n/a|[0-9T:.-]+Z) \| Last keep alive: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\."#, options: .regularExpression) != nil, "\(health.out)")

        let more = try runTool("cluster_control", ["--home", master.home, "-i", "more"])
        #expect(more.out.contains("\n    master-node (127.0.0.1)\n        Version: 4.8.1\n        Type: master\n        Active agents: 0\n"))
        #expect(more.out.contains("            Last keep Alive:\n                Last received: "))

        let unknown = try runTool("cluster_control", ["--home", master.home, "-l", "-fn", "nosuchnode"])
        #expect(unknown.status != 0)
        #expect(unknown.err.contains("ERROR: Error 1730 - Node does not exist"))
        let relayedError = try runTool("cluster_control", ["--home", w1.home, "-l", "-fn", "nosuchnode"])
        #expect(relayedError.status != 0)
        #expect(relayedError.err.contains("Error 1730 - Node does not exist"), "the master's error reaches the worker's caller: \(relayedError.err)")
    }

    @Test func workerNotConnectedIsAnError() throws {
        let base = Harness.tempDir("notconn")
        // A port nobody listens on: this worker has no master.
        let w = try Node(home: try Harness.makeHome(.init(name: "worker1", port: Harness.freePort()), in: base))
        defer { w.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil { w.log.contains("Serving on") })
        let r = try runTool("cluster_control", ["--home", w.home, "-l"])
        #expect(r.status != 0)
        #expect(r.err.contains("ERROR: Error 3023 - Worker node is not connected to master"), "\(r.err)")
    }

    @Test func configCheckAndDaemonMode() throws {
        let base = Harness.tempDir("cfg")
        // `-t` binds nothing; the daemon started below may find this port taken and then gets another.
        var port = Harness.freePort()
        let home = try Harness.makeHome(.init(name: "master-node", type: "master", port: port), in: base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ok = try runTool("clusterd", ["-t", "--home", home])
        #expect(ok.status == 0)
        // A bad port: start-up stops with a message naming the file and the field.
        let conf = home + "/etc/ossec.conf"
        let good = try String(contentsOfFile: conf, encoding: .utf8)
        try good.replacingOccurrences(of: "<port>\(port)</port>", with: "<port>80</port>").write(toFile: conf, atomically: true, encoding: .utf8)
        let bad = try runTool("clusterd", ["-t", "--home", home])
        #expect(bad.status == 1)
        #expect((bad.out + bad.err).contains("ossec.conf"))
        #expect((bad.out + bad.err).contains("Port must be higher than 1024 and lower than 65535."))
        try good.write(toFile: conf, atomically: true, encoding: .utf8)

        // Without -f the daemon detaches; the pid file names the running process; SIGTERM stops it.
        // If another process took the port before the daemon bound it, the daemon logs the failure and
        // exits: it is started again on another port.
        for attempt in 1...5 {
            if attempt > 1 {
                let taken = port
                port = Harness.freePort()
                let text = try String(contentsOfFile: conf, encoding: .utf8)
                try text.replacingOccurrences(of: "<port>\(taken)</port>", with: "<port>\(port)</port>").write(toFile: conf, atomically: true, encoding: .utf8)
            }
            try? FileManager.default.removeItem(atPath: home + "/logs/cluster.log")
            let start = try runTool("clusterd", ["-r", "--home", home])
            #expect(start.status == 0)
            var outcome: Node.Startup?
            waitUntil(30) {
                outcome = Harness.startupOutcome(log: (try? String(contentsOfFile: home + "/logs/cluster.log", encoding: .utf8)) ?? "", port: port)
                return outcome != nil
            }
            guard outcome == .addressInUse else { break }
            // The daemon that could not bind removes its pid file as it exits.
            waitUntil(10) { ((try? FileManager.default.contentsOfDirectory(atPath: home + "/var/run")) ?? []).isEmpty }
        }
        var pid: Int32 = 0
        #expect(waitUntil {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: home + "/var/run")) ?? []
            if let f = names.first(where: { $0.hasPrefix("wazuh-clusterd-") }) { pid = Int32(f.dropFirst(15).dropLast(4)) ?? 0 }
            return pid > 0
        })
        #expect(waitUntil { FileManager.default.fileExists(atPath: home + "/queue/cluster/c-internal.sock") })
        #expect(kill(pid, SIGTERM) == 0)
        #expect(waitUntil { kill(pid, 0) != 0 })
        #expect(!FileManager.default.fileExists(atPath: home + "/queue/cluster/c-internal.sock"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: home + "/var/run")) ?? []).isEmpty)
    }
}
