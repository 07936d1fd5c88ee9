import Common
import Foundation
import Testing

/// Real master and worker processes on loopback (issue: node lifecycle).
@Suite(.serialized) struct NodeLifecycleTests {
    struct Cluster {
        let base: String
        let port: Int
        let master: Node

        init(_ label: String, masterIntervals: [String: [String: Double]] = [:]) throws {
            base = Harness.tempDir(label)
            (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0, intervals: masterIntervals), in: base)
            let port = port
            #expect(waitUntil { (try? RawClient(port: port, key: nil)) != nil }, "master did not start listening")
        }

        func worker(_ name: String, cluster: String = "wazuh", key: String = Harness.key, intervals: [String: [String: Double]] = [:]) throws -> Node {
            let home = try Harness.makeHome(.init(name: name, cluster: cluster, key: key, port: port, intervals: intervals), in: base)
            return try Node(home: home)
        }

        func stopAll(_ nodes: Node...) {
            for n in nodes { n.stop() }
            master.stop()
            try? FileManager.default.removeItem(atPath: base)
        }
    }

    @Test func workerConnectsAndKeepsAlive() throws {
        let c = try Cluster("connect")
        let w = try c.worker("worker1")
        defer { c.stopAll(w) }
        #expect(waitUntil { w.log.contains("[Worker worker1] [Main] Successfully connected to master.") }, "worker log:\n\(w.log)")
        #expect(waitUntil { w.log.contains("[Worker worker1] [Keep Alive] Successful response from master: keepalive") })
        #expect(c.master.log.contains("[Master] [Main] Serving on ('127.0.0.1', \(c.port))"))
        #expect(c.master.log.contains("[Local Server] [Main] Serving on \(c.master.home)/queue/cluster/c-internal.sock"))
        #expect(c.master.log.range(of: #"\[Worker\] \[Main\] Connection from \('127\.0\.0\.1', \d+\)"#, options: .regularExpression) != nil)
        #expect(FileManager.default.fileExists(atPath: c.master.home + "/queue/cluster/worker1"))
        // Log line format: YYYY/MM/DD HH:MM:SS LEVEL: [tag] [subtag] message
        for line in w.log.split(separator: "\n") {
            #expect(line.range(of: #"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG|DEBUG2|WARNING|ERROR): \[[^\]]+\] \[[^\]]+\] "#, options: .regularExpression) != nil, "\(line)")
        }
    }

    @Test func helloRejectionsReachTheWorkerLog() throws {
        let c = try Cluster("reject")
        let ok = try c.worker("worker1")
        defer { c.stopAll(ok) }
        #expect(waitUntil { ok.log.contains("Successfully connected to master.") })
        // A second node configured with the same name as worker1.
        let dupHome = try Harness.makeHome(.init(name: "worker1", port: c.port), in: c.base + "/dup")
        let dup = try Node(home: dupHome)
        let sameAsMaster = try c.worker("master-node")
        let otherCluster = try c.worker("worker2", cluster: "othercluster")
        let badName = try c.worker("worker.3")
        defer { for n in [dup, sameAsMaster, otherCluster, badName] { n.stop() } }
        let cases: [(Node, String)] = [
            (dup, "Could not connect to master: Error 3028 - Worker node ID already exists: worker1."),
            (sameAsMaster, "Could not connect to master: Error 3029 - Connected worker with same name as the master."),
            (otherCluster, "Could not connect to master: Error 3030 - Worker does not belong to the same cluster."),
            (badName, "Could not connect to master: Error 3060 - Invalid node name format: worker.3."),
        ]
        for (node, line) in cases {
            #expect(waitUntil { node.log.contains(line) }, "expected '\(line)' in:\n\(node.log)")
        }
        // The original worker1 is undisturbed by the duplicate's rejection.
        #expect(ok.isRunning && !ok.log.contains("The master closed the connection"))
    }

    @Test func otherVersionAndMalformedHelloOverTheWire() throws {
        let c = try Cluster("version")
        defer { c.stopAll() }
        let client = try RawClient(port: c.port, key: Harness.key)
        let reply = try #require(try client.request("hello", "probe1 wazuh worker 4.8.0"))
        #expect(reply.name == "err")
        #expect(WazuhException.parse(payload: reply.payload) == .cluster(3031))
        let client2 = try RawClient(port: c.port, key: Harness.key)
        let malformed = try #require(try client2.request("hello", "probe2 wazuh"))
        #expect(malformed.name == "err")
        #expect(WazuhException.parse(payload: malformed.payload).code == 1000)
        let unknown = try #require(try client2.request("nosuchcmd", "x"))
        #expect(unknown.name == "err")
        #expect(String(decoding: unknown.payload, as: UTF8.self) == "unknown command 'b'nosuchcmd''")
        // Before its hello is accepted a peer may only say hello (4.8.1 answers anything; we bound it).
        let echo = try #require(try client2.request("echo-c", "keepalive-before-hello"))
        #expect(echo.name == "err")
        #expect(String(decoding: echo.payload, as: UTF8.self) == "unknown command 'b'echo-c''")
        #expect(waitUntil { c.master.log.contains("Refused 'echo-c' from 127.0.0.1:") })
    }

    @Test func workerReconnectsAfterMasterRestart() throws {
        // The master comes back on the port its worker knows; if another process took that port while
        // the master was down, the whole scenario runs again on a new one.
        let attempts = 3
        for attempt in 1...attempts {
            let c = try Cluster("restart")
            let w = try c.worker("worker1")
            defer { c.stopAll(w) }
            #expect(waitUntil { w.log.contains("Successfully connected to master.") })
            #expect(c.master.stop() == 0, "master log:\n\(c.master.log)\n\((try? String(contentsOfFile: c.master.outputPath, encoding: .utf8)) ?? "")")
            #expect(!FileManager.default.fileExists(atPath: c.master.home + "/queue/cluster/c-internal.sock"), "socket file removed on SIGTERM")
            #expect(waitUntil { w.log.contains("The master closed the connection") })
            #expect(waitUntil { w.log.contains("Could not connect to master. Trying again in") }, "worker log:\n\(w.log)")
            let (again, outcome) = try Harness.restartMaster(c.master, port: c.port, startupTimeout: 15)
            defer { again.stop() }
            if outcome == .addressInUse && attempt < attempts { continue }
            #expect(waitUntil(15) { w.log.components(separatedBy: "Successfully connected to master.").count == 3 }, "worker log:\n\(w.log)")
            break
        }
    }

    @Test func halfOpenSessionIsDroppedAndTheWorkerGetsBackIn() throws {
        let c = try Cluster("halfopen", masterIntervals: ["master": ["max_allowed_time_without_keepalive": 60]])
        defer { c.stopAll() }
        // A silent client takes the name worker1 and never sends a keep-alive (a half-open connection).
        let ghost = try RawClient(port: c.port, key: Harness.key)
        #expect(try ghost.request("hello", "worker1 wazuh worker 4.8.1")?.name == "ok")
        let w = try c.worker("worker1")
        defer { w.stop() }
        // The master probes the ghost (echo-m), gets no answer within half its request timeout (3 s
        // here), and gives the name to the real worker at once instead of refusing it with 3028 until the
        // keep-alive check drops the ghost; the worker's first hello is accepted.
        #expect(waitUntil(10) { c.master.log.contains("The connection that held the name worker1 did not answer within 1.5s; closing it for the new connection from 127.0.0.1.") }, "master log:\n\(c.master.log)")
        #expect(waitUntil(10) { w.log.contains("Successfully connected to master.") }, "worker log:\n\(w.log)")
        #expect(!w.log.contains("Error 3028"))
        #expect(!w.log.contains("Could not connect to master"), "worker log:\n\(w.log)")
        #expect(ghost.isClosedByPeer(within: 5))
    }

    @Test func wrongKeyClosesTheConnectionAndNobodyCrashes() throws {
        let c = try Cluster("wrongkey")
        let w = try c.worker("worker1", key: "ThisIsNotTheClusterKey0123456789")
        defer { c.stopAll(w) }
        #expect(waitUntil { c.master.log.contains("Could not decrypt message") }, "master log:\n\(c.master.log)")
        #expect(waitUntil { w.log.contains("The master closed the connection") })
        #expect(waitUntil { w.log.components(separatedBy: "The master closed the connection").count >= 3 }, "worker retries")
        #expect(c.master.isRunning && w.isRunning)
    }

    @Test func garbageAndOversizedLengthCloseOnlyThatConnection() throws {
        let c = try Cluster("garbage")
        let w = try c.worker("worker1")
        defer { c.stopAll(w) }
        #expect(waitUntil { w.log.contains("Successfully connected to master.") })
        let oversized = try RawClient(port: c.port, key: Harness.key)
        oversized.sendRaw(FrameHeader(counter: 1, length: 0xFFFF_FFF0, command: try CommandField(name: "hello")).bytes)
        #expect(oversized.isClosedByPeer(within: 3))
        let garbage = try RawClient(port: c.port, key: Harness.key)
        var g = SystemRandomNumberGenerator()
        var junk = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &g) }
        // Random bytes whose length field happens to fit the buffer (otherwise the master would rightly wait
        // for the rest, up to the payload deadline): the payload then fails to decrypt.
        junk.replaceSubrange(4..<8, with: [0, 0, 0x0F, 0xEC])  // 4076 = 4096 - 20
        garbage.sendRaw(junk)
        #expect(garbage.isClosedByPeer(within: 3))
        let keepalives = w.log.components(separatedBy: "Successful response from master: keepalive").count
        #expect(waitUntil { w.log.components(separatedBy: "Successful response from master: keepalive").count > keepalives + 1 })
        #expect(!w.log.contains("The master closed the connection"))
        #expect(c.master.log.contains("exceeds the 268435456-byte message limit"))
    }

    @Test func localSocketRefusesAnOversizedFrame() throws {
        let c = try Cluster("local")
        defer { c.stopAll() }
        let socket = c.master.home + "/queue/cluster/c-internal.sock"
        #expect(waitUntil { FileManager.default.fileExists(atPath: socket) })
        var st = stat()
        stat(socket, &st)
        #expect(st.st_mode & 0o777 == 0o660)
        let bad = try RawClient(unixPath: socket)
        bad.sendRaw(FrameHeader(counter: 1, length: 0x7FFF_FFFF, command: try CommandField(name: "get_nodes")).bytes)
        #expect(bad.isClosedByPeer(within: 3))
        let good = try RawClient(unixPath: socket)
        let reply = try #require(try good.request("get_nodes", #"{"filter_node": null, "offset": 0, "limit": 500, "sort": null, "search": null, "select": null, "filter_type": "all", "distinct": false}"#))
        #expect(reply.name == "ok")
        #expect(String(decoding: reply.payload, as: UTF8.self) == #"{"items": [{"name": "master-node", "type": "master", "version": "4.8.1", "ip": "127.0.0.1"}], "totalItems": 1}"#)
        #expect(c.master.isRunning)
    }
}
