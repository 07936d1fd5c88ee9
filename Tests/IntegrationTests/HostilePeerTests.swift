import Common
import Foundation
import Testing

/// A peer that has the cluster key and says a valid `hello`, then misuses the link: a master must bound
/// what one connection can make it hold (memory, descriptors, tasks) and must confine each peer to its
/// own files. Every test runs a master and one real worker in sync next to the hostile raw client, and
/// checks that the real worker is undisturbed.
@Suite(.serialized) struct HostilePeerTests {
    static let workerName = "worker1"

    /// A master and one real worker; the master tolerates silent peers (the raw clients send no keep-alives).
    final class Cluster {
        let base: String
        let master: Node
        let port: Int
        let worker: Node

        init(_ label: String, masterIntervals: [String: [String: Double]] = [:], masterArgs: [String] = ["-d"]) throws {
            base = Harness.tempDir(label)
            var intervals: [String: [String: Double]] = ["master": ["max_allowed_time_without_keepalive": 600]]
            for (section, values) in masterIntervals { intervals[section, default: [:]].merge(values) { $1 } }
            (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0, intervals: intervals),
                                                     in: base, extraArgs: masterArgs)
            worker = try Node(home: try Harness.makeHome(.init(name: HostilePeerTests.workerName, port: port), in: base))
        }

        func stop() {
            worker.stop()
            master.stop()
            try? FileManager.default.removeItem(atPath: base)
        }

        /// The worker said hello and its first integrity check ended on the master.
        func waitInSync() throws {
            let name = HostilePeerTests.workerName
            try #require(waitUntil(20) { worker.log.contains("[Worker \(name)] [Main] Successfully connected to master.") },
                         "worker log:\n\(worker.log.suffix(2000))")
            try #require(waitUntil(20) { master.log.contains("[Worker \(name)] [Integrity check] Finished") },
                         "master log:\n\(master.log.suffix(2000))")
        }

        /// A raw connection with the cluster key whose `hello` as worker `name` was accepted.
        func hostile(_ name: String) throws -> RawClient {
            let client = try RawClient(port: port, key: Harness.key)
            let reply = try #require(try client.request("hello", "\(name) wazuh worker 4.8.1"), "no reply to hello")
            #expect(reply.name == "ok")
            #expect(String(decoding: reply.payload, as: UTF8.self).hasPrefix("Client \(name) added"))
            return client
        }

        /// The real worker is still connected (listed by `cluster_control -l`, no disconnection logged on
        /// either side) and integrity sync still reaches it: a new rules file of the master appears on it.
        func expectWorkerUndisturbed(_ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let name = HostilePeerTests.workerName
            #expect(master.isRunning, "master exited; stderr:\n\(master.stderr.suffix(2000))", sourceLocation: sourceLocation)
            #expect(worker.isRunning, sourceLocation: sourceLocation)
            let list = try runTool("cluster_control", ["--home", master.home, "-l"])
            #expect(list.status == 0, "cluster_control -l: \(list.err)", sourceLocation: sourceLocation)
            #expect(list.out.contains("\n\(name) "), "worker not listed:\n\(list.out)", sourceLocation: sourceLocation)
            for line in ["Disconnected \(name).", "Error during connection with '\(name)'", "No keep alives have been received from \(name)"] {
                #expect(!master.log.contains(line), "master log has '\(line)'", sourceLocation: sourceLocation)
            }
            for line in ["The master closed the connection", "Connection with server has been lost", "Maximum number of failed keep alives reached"] {
                #expect(!worker.log.contains(line), "worker log has '\(line)'", sourceLocation: sourceLocation)
            }
            let rule = "etc/rules/probe-\(label).xml"
            let content = Data("<group name=\"probe-\(label)\"/>\n".utf8)
            try content.write(to: URL(fileURLWithPath: master.home + "/" + rule))
            #expect(waitUntil(20) { FileManager.default.contents(atPath: worker.home + "/" + rule) == content },
                    "\(rule) did not reach the worker; master log:\n\(master.log.suffix(2000))", sourceLocation: sourceLocation)
        }
    }

    /// 20 long strings of the maximum size, and one before hello: the master must not hold gigabytes
    /// for a peer that never fills them.
    @Test func stringFloodKeepsMasterMemoryBounded() throws {
        let c = try Cluster("strflood")
        defer { c.stop() }
        try c.waitInSync()
        let raw = try c.hostile("raw1")
        raw.setTimeout(30)
        var replies: [String: Int] = [:]
        for i in 0..<20 {
            guard let reply = try raw.request("new_str", "268435456") else {
                replies["closed", default: 0] += 1
                #expect(raw.isClosedByPeer(within: 2), "no reply to new_str #\(i) and the connection is still open")
                break
            }
            #expect(["ok", "err", "error"].contains(reply.name), "new_str #\(i): \(reply.name) \(String(decoding: reply.payload, as: UTF8.self))")
            replies[reply.name, default: 0] += 1
        }
        let rss = try #require(ProcFS.residentBytes(c.master.pid))
        #expect(rss < 200 * 1_048_576, "master VmRSS after 20 × new_str 268435456: \(rss / 1_048_576) MB (replies: \(replies))")

        // Before hello, a connection may not reserve strings at all.
        let early = try RawClient(port: c.port, key: Harness.key)
        let reply = try early.request("new_str", "100")
        let refused = reply?.name == "err" || (reply == nil && early.isClosedByPeer(within: 2))
        #expect(refused, "new_str before hello: \(reply.map { "\($0.name) \(String(decoding: $0.payload, as: UTF8.self))" } ?? "no reply, connection open")")

        try c.expectWorkerUndisturbed("strflood")
    }

    /// 5,000 files opened with `new_file` and never ended: the master must not keep a descriptor per
    /// file, and a peer's files go only to `queue/cluster/<its own name>/`.
    @Test func fileFloodKeepsDescriptorsBounded() throws {
        let c = try Cluster("fileflood")
        defer { c.stop() }
        try c.waitInSync()
        let raw = try c.hostile("raw2")
        #expect(FileManager.default.fileExists(atPath: c.master.home + "/queue/cluster/raw2"))
        let before = try #require(ProcFS.openDescriptors(c.master.pid))
        var replies: [String: Int] = [:]
        var closed = false
        for i in 0..<5000 {
            guard let reply = try raw.request("new_file", "/queue/cluster/raw2/f\(i)") else {
                replies["closed", default: 0] += 1
                closed = true
                #expect(raw.isClosedByPeer(within: 2), "no reply to new_file #\(i) and the connection is still open")
                break
            }
            if !["ok", "err"].contains(reply.name) {
                Issue.record("new_file #\(i): \(reply.name) \(String(decoding: reply.payload, as: UTF8.self))")
            }
            replies[reply.name, default: 0] += 1
        }
        let after = try #require(ProcFS.openDescriptors(c.master.pid))
        #expect(after - before < 100, "master descriptors: \(before) before, \(after) after 5000 unfinished new_file (replies: \(replies))")

        // Another peer's directory is not this peer's to write. (A fresh connection if the flood got this one closed.)
        let writer = closed ? try c.hostile("raw2b") : raw
        let foreign = try #require(try writer.request("new_file", "/queue/cluster/\(Self.workerName)/x"), "no reply to new_file into the worker's directory")
        #expect(foreign.name == "err", "new_file /queue/cluster/\(Self.workerName)/x from raw2: \(foreign.name) \(String(decoding: foreign.payload, as: UTF8.self))")
        #expect(!FileManager.default.fileExists(atPath: c.master.home + "/queue/cluster/\(Self.workerName)/x"))

        try c.expectWorkerUndisturbed("fileflood")
    }

    /// `syn_i_w_m_e` names the package the peer sent for its task; it cannot name any other file of the
    /// master (the master deletes the package after reading it).
    @Test func integrityEndCannotNameFilesThePeerDidNotSend() throws {
        // The raw client never sends the package: a short receive timeout ends its task soon either way.
        let c = try Cluster("intend", masterIntervals: ["communication": ["timeout_receiving_file": 3]])
        defer { c.stop() }
        try c.waitInSync()
        let rawName = "raw3"
        let raw = try c.hostile(rawName)
        raw.setTimeout(10)
        let finished = "[Master] [Local integrity] Finished"
        func cycles() -> Int { c.master.log.components(separatedBy: finished).count - 1 }

        /// Asks permission once per Local integrity cycle until granted, then opens a check task.
        func grantedTask() throws -> String {
            var answers: [String] = []
            for _ in 0..<40 {
                let cycle = cycles()
                let permission = try #require(try raw.request("syn_i_w_m_p", ""), "no reply to syn_i_w_m_p")
                let answer = String(decoding: permission.payload, as: UTF8.self)
                answers.append("\(permission.name) \(answer)")
                if permission.name == "ok" && answer == "True" {
                    let task = try #require(try raw.request("syn_i_w_m", ""), "no reply to syn_i_w_m")
                    #expect(task.name == "ok")
                    return String(decoding: task.payload, as: UTF8.self)
                }
                try #require(waitUntil(15) { cycles() > cycle }, "no new '\(finished)' in the master log")
            }
            Issue.record("syn_i_w_m_p never granted: \(answers)")
            throw Harness.StartupFailure(description: "no integrity permission")
        }

        let socket = c.master.home + "/queue/cluster/c-internal.sock"
        #expect(FileManager.default.fileExists(atPath: socket))
        let id = try grantedTask()
        let end = try #require(try raw.request("syn_i_w_m_e", "\(id) queue/cluster/c-internal.sock"), "no reply to syn_i_w_m_e")
        #expect(end.name == "err", "syn_i_w_m_e naming the master's local socket: \(end.name) \(String(decoding: end.payload, as: UTF8.self))")
        // The link still answers, and the task has ended (with an error of its own, or by the receive timeout).
        let echo = try #require(try raw.request("echo-c", "keepalive"), "no reply to echo-c")
        #expect(echo.name == "ok-m")
        let reaction = "[Worker \(rawName)] [Integrity check] Error"
        waitUntil(15) { c.master.log.contains(reaction) }
        #expect(FileManager.default.fileExists(atPath: socket), "the master's local socket file is gone")
        let list = try runTool("cluster_control", ["--home", c.master.home, "-l"])
        #expect(list.status == 0, "cluster_control -l after the hostile syn_i_w_m_e: \(list.err)")

        // A package in the peer's own directory that it never sent.
        let id2 = try grantedTask()
        let never = try #require(try raw.request("syn_i_w_m_e", "\(id2) queue/cluster/\(rawName)/never-sent.zip"), "no reply to syn_i_w_m_e")
        #expect(never.name == "err", "syn_i_w_m_e naming a file never sent: \(never.name) \(String(decoding: never.payload, as: UTF8.self))")

        try c.expectWorkerUndisturbed("intend")
    }

    /// Once a worker's session is over, none of the tasks it started is left running on the master.
    @Test func sessionTasksEndWithTheConnection() throws {
        let c = try Cluster("tasks", masterArgs: ["-dd"])
        defer { c.stop() }
        try c.waitInSync()
        #expect(waitUntil(20) { c.master.log.contains("[Worker \(Self.workerName)] [Agent-info sync]") || c.worker.log.contains("[Agent-info sync]") })
        c.worker.stop()
        let marker = "[Worker \(Self.workerName)] [Main] Live session tasks: "
        func lastCount() -> String? {
            c.master.log.split(separator: "\n").last { $0.contains(marker) }.map { String($0[$0.range(of: marker)!.upperBound...]) }
        }
        #expect(waitUntil(15) { lastCount() != nil }, "no '\(marker)' line after the worker left; master log:\n\(c.master.log.suffix(1500))")
        // The count may be logged again as the last tasks end.
        waitUntil(10) { lastCount() == "0" }
        #expect(lastCount() == "0", "last '\(marker)' line says \(lastCount() ?? "nothing")")
    }

    /// SIGTERM stops a busy, connected node within `timeout_cluster_request` (3 s in these tests), with
    /// exit status 0: every task of every connection ends with it.
    @Test func connectedNodesStopOnSigtermWithinTheRequestTimeout() throws {
        let c = try Cluster("sigterm")
        defer { c.stop() }
        try c.waitInSync()
        #expect(c.worker.stop(grace: 4) == 0, "worker log:\n\(c.worker.log.suffix(1500))")
        #expect(c.worker.log.contains("[Cluster] [Main] SIGNAL received. Exit..."))
        #expect(c.master.stop(grace: 4) == 0, "master log:\n\(c.master.log.suffix(1500))")
        #expect(c.master.log.contains("[Cluster] [Main] SIGNAL received. Exit..."))
    }
}
