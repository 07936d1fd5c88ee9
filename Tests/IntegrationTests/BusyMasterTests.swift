import Common
import Foundation
import Testing

/// A master busy with a long `Local integrity` scan must go on answering its workers and its local socket.
@Suite(.serialized) struct BusyMasterTests {
    static let fileCount = 100_000
    /// How long one `cluster_control -i` may take before the test gives up on it (a bound, not a measurement).
    /// Generous: what the test checks is that answers come while the scan still runs (an answer that waited
    /// for the scan arrives after it), not how fast; a 1 s bound failed on a machine loaded by other daemons.
    static let controlBound = 15.0

    /// `count` small files of varied contents, 1,000 per directory: nine tenths under `etc/shared/`
    /// (several groups), the rest under `etc/rules/`. Written with POSIX calls from one loop.
    static func populate(_ home: String, count: Int) throws {
        var g = SeededGenerator(seed: 100_000)
        // Contents are slices of one random pool at random offsets, so no two files are alike.
        let pool = (0..<65_536).map { _ in UInt8(0x61 + g.next() % 26) }
        var madeDirs: Set<String> = []
        for i in 0..<count {
            let dir = i % 10 == 9 ? "\(home)/etc/rules/r\(i / 1000)" : "\(home)/etc/shared/group\(i % 3)/d\(i / 1000)"
            if madeDirs.insert(dir).inserted {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            let path = "\(dir)/f\(i).xml"
            let size = 40 + Int(g.next() % 400)
            let offset = Int(g.next() % UInt64(pool.count - size))
            let bytes = Array("<!-- file \(i) -->\n".utf8) + pool[offset..<offset + size]
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == bytes.count else { throw POSIXError(.EIO) }
        }
    }

    /// While the master's first scan of 100,000 files runs with a worker connected, `cluster_control -i`
    /// answers within the bound each time, and so do a peer's `syn_i_w_m_p` and the `echo-c` after it on
    /// the same link; over that scan and the rescans after it, the worker never
    /// reaches its limit of failed keep-alives and never loses the connection.
    @Test func workerStaysConnectedWhileMasterHashes100kFiles() throws {
        let base = Harness.tempDir("busy")
        defer { try? FileManager.default.removeItem(atPath: base) }
        // Rescans follow each other closely, so the master hashes again while the worker is connected.
        let masterSpec = Harness.NodeSpec(name: "master-node", type: "master", port: 0,
                                          intervals: ["master": ["recalculate_integrity": 0.2]])
        try Self.populate(try Harness.makeHome(masterSpec, in: base), count: Self.fileCount)
        let (master, port) = try Harness.startMaster(masterSpec, in: base)
        defer { master.stop() }
        // A keep-alive every second; an answer later than one second counts as a failure, two in a row disconnect.
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port, intervals: [
            "worker": ["keep_alive": 1, "max_failed_keepalive_attempts": 2],
            "communication": ["timeout_cluster_request": 1],
        ]), in: base)
        let worker = try Node(home: workerHome)
        defer { worker.stop() }

        let starting = "[Master] [Local integrity] Starting."
        let finished = "[Master] [Local integrity] Finished"
        func rounds() -> Int { master.log.components(separatedBy: finished).count - 1 }
        try #require(waitUntil(30) { worker.log.contains("[Worker worker1] [Main] Successfully connected to master.") },
                     "worker log:\n\(worker.log.suffix(2000))")
        let log = master.log
        let overlapped = log.contains(starting) && !log.contains(finished)
        #expect(overlapped, "the first scan ended before the worker connected, nothing was tested; master log:\n\(log.suffix(1500))")

        // A second peer, to see directly whether a worker's requests wait for the scan.
        let probe = try RawClient(port: port, key: Harness.key)
        #expect(try probe.request("hello", "probe1 wazuh worker 4.8.1")?.name == "ok")

        // While the first scan runs, the local socket answers, and so does a peer's link: a permission
        // request (True or False) and the keep-alive sent after it on the same connection.
        var answered = (control: 0, link: 0)
        var controlFailure: String?, linkFailure: String?
        while overlapped && rounds() == 0 && (controlFailure == nil || linkFailure == nil) {
            // The peer's requests go out first and are answered while cluster_control runs.
            let sentAt = Date()
            var pending: Set<UInt32> = []
            if linkFailure == nil { pending = [try probe.send("syn_i_w_m_p", ""), try probe.send("echo-c", "keepalive")] }
            if controlFailure == nil {
                if let r = try runTool("cluster_control", ["--home", master.home, "-i"], limit: Self.controlBound) {
                    if r.status != 0 {
                        controlFailure = "cluster_control -i exited with \(r.status): \(r.err)"
                    } else if rounds() > 0 && answered.control == 0 {
                        controlFailure = "cluster_control -i answered only once the scan had finished"
                    } else { answered.control += 1 }
                } else {
                    controlFailure = "cluster_control -i did not answer within \(Self.controlBound) s"
                }
            }
            if linkFailure == nil {
                while !pending.isEmpty {
                    // Only what arrived within the bound counts (a zero socket timeout would mean none).
                    probe.setTimeout(max(0.01, Self.controlBound - Date().timeIntervalSince(sentAt)))
                    guard let m = try probe.receive() else { break }
                    pending.remove(m.counter)
                }
                if pending.isEmpty && rounds() > 0 && answered.link == 0 {
                    linkFailure = "a peer's syn_i_w_m_p and echo-c were answered only once the scan had finished"
                } else if pending.isEmpty { answered.link += 1 } else {
                    linkFailure = "a peer's syn_i_w_m_p and the echo-c after it were not both answered within \(Self.controlBound) s"
                }
            }
        }
        let scanEnded = rounds() > 0
        #expect(controlFailure == nil, "\(controlFailure ?? "") after \(answered.control) answers during the first scan (scan finished by the end of the checks: \(scanEnded))")
        #expect(linkFailure == nil, "\(linkFailure ?? "") after \(answered.link) answers during the first scan (scan finished by the end of the checks: \(scanEnded))")

        #expect(waitUntil(600) { rounds() > 0 }, "the master's first scan did not finish")
        let firstFinish = master.log.split(separator: "\n").first { $0.contains(finished) }.map(String.init) ?? ""
        // Five more rounds of hashing with the worker connected (and syncing the files it lacks).
        #expect(waitUntil(300) { rounds() >= 6 }, "the master did not rescan; master log:\n\(master.log.suffix(1500))")
        // A keep-alive sent during the last scan has had its answer (or its timeout) once two later ones succeeded.
        let okLine = "[Keep Alive] Successful response from master: keepalive"
        let oks = worker.log.components(separatedBy: okLine).count
        #expect(waitUntil(30) { worker.log.components(separatedBy: okLine).count > oks + 1 }, "no keep-alive answered after the rescans")
        let failedKeepalives = worker.log.components(separatedBy: "Error sending keep alive").count - 1
        for line in ["Maximum number of failed keep alives reached", "Connection with server has been lost"] {
            let hits = worker.log.split(separator: "\n").filter { $0.contains(line) }
            #expect(hits.isEmpty, "worker log: \(hits.count) × '\(line)' (\(failedKeepalives) failed keep-alives; master: \(firstFinish); \(answered.control) cluster_control answers during the first scan)")
        }
    }
}
