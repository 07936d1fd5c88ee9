import Common
import Crypto
import Foundation
import Testing

/// The pipelined integrity sync at the protocol level, against real daemons: a worker stages the
/// master's package while it arrives and shows nothing before `syn_m_c_e`; a master sends its package
/// while building it and stops when the worker cancels.
@Suite(.serialized) struct IntegrityStreamingTests {
    /// A master-side tree of `count` files and the package a worker with `workerHome`'s files needs.
    static func package(count: Int, prefix: String, in base: String, for workerHome: String) throws -> (paths: [String], bytes: [UInt8]) {
        let masterHome = base + "/source-" + prefix
        var paths: [String] = []
        for i in 0..<count {
            let path = ["etc/rules", "etc/shared/default", "etc/decoders/sub"][i % 3] + "/\(prefix)\(i).xml"
            try FileManager.default.createDirectory(atPath: masterHome + "/" + (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data(String(repeating: "<rule id=\"\(i)\"/>\n", count: 40 + i % 50).utf8).write(to: URL(fileURLWithPath: masterHome + "/" + path))
            paths.append(path)
        }
        var masterCache = HashCache(), workerCache = HashCache()
        let diff = try IntegrityComparison.compare(master: IntegrityScanner(home: masterHome).scan(cache: &masterCache).metadata,
                                                   worker: IntegrityScanner(home: workerHome).scan(cache: &workerCache).metadata)
        return (paths, try PackageWriter(format: .zip, home: masterHome).syncPackage(diff).bytes)
    }

    /// Temporary files of an apply anywhere under the home.
    static func temporaryFiles(_ home: String) -> [String] {
        (FileManager.default.enumerator(atPath: home)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(PackageApplier.temporarySuffix) }
    }

    /// A worker connected to a test that plays its master, which has just accepted `syn_m_c`.
    struct Session {
        let base: String
        let home: String
        let worker: Node
        let conn: RawClient
        let taskID: String
        let answer: (WireMessage) throws -> Void

        func send(_ rel: String, _ bytes: [UInt8], end: Bool = true) throws {
            #expect(try conn.request("new_file", payload: Array(rel.utf8), answering: answer)?.name == "ok")
            let half = bytes.count / 2
            for part in [bytes[..<half], bytes[half...]] where end || part.startIndex == 0 {
                #expect(try conn.request("file_upd", payload: Array(rel.utf8) + [0x20] + part, answering: answer)?.name == "ok")
            }
            if end {
                let reply = try conn.request("file_end", payload: Array(rel.utf8) + [0x20] + Array(SHA256.hash(data: bytes)), answering: answer)
                #expect(reply.map { String(decoding: $0.payload, as: UTF8.self) } == "File received correctly")
            }
        }

        func end(_ rel: String) throws {
            #expect(try conn.request("syn_m_c_e", payload: Array("\(taskID) \(rel.dropFirst())".utf8), answering: answer)?.name == "ok")
        }
    }

    /// Plays the master of a real worker (home with one rule of its own, `etc/rules/local.xml`): accepts
    /// its `hello`, then sends `syn_m_c`. `answering` makes the reply to the worker's own requests but its
    /// keep-alives (by default: no permission for checks, thanks for the rest).
    static func session(_ label: String, answering: ((RawClient) -> (WireMessage) throws -> Void)? = nil,
                        _ body: (Session) throws -> Void) throws {
        let listener = try RawListener()
        let base = Harness.tempDir(label)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let home = try Harness.makeHome(.init(name: "worker1", port: listener.port), in: base)
        try "keep\n".write(toFile: home + "/etc/rules/local.xml", atomically: true, encoding: .utf8)
        let worker = try Node(home: home)
        defer { worker.stop() }
        let conn = try #require(try listener.accept(key: Harness.key))
        let hello = try #require(try conn.receive())
        #expect(hello.name == "hello")
        try conn.reply(to: hello, "ok", Array("Client worker1 added".utf8))
        let reply = answering?(conn) ?? { m in
            try conn.reply(to: m, "ok", Array((m.name == "syn_i_w_m_p" ? "False" : "Thanks").utf8))
        }
        // Keep-alives are answered as a master does, so that the worker stays connected however long
        // the test takes.
        let answer: (WireMessage) throws -> Void = { m in
            if m.name == "echo-c" { try conn.reply(to: m, "ok-m", m.payload) } else { try reply(m) }
        }
        let created = try #require(try conn.request("syn_m_c", payload: [], answering: answer))
        #expect(created.name == "ok")
        try body(Session(base: base, home: home, worker: worker, conn: conn,
                         taskID: String(decoding: created.payload, as: UTF8.self), answer: answer))
    }

    @Test func workerStagesThePackageWhileItArrivesAndShowsItOnlyAfterTheEnd() throws {
        try Self.session("stream-stage") { s in
            let (paths, bytes) = try Self.package(count: 300, prefix: "r", in: s.base, for: s.home)
            let rel = "/queue/cluster/worker1/worker1-1.0-stream.zip"
            try s.send(rel, bytes)
            // Received whole and staged, but not yet named by syn_m_c_e: nothing is visible.
            #expect(waitUntil { Self.temporaryFiles(s.home).count == paths.count }, "staged while it arrived")
            #expect(paths.allSatisfy { !FileManager.default.fileExists(atPath: s.home + "/" + $0) })
            #expect(FileManager.default.fileExists(atPath: s.home + "/etc/rules/local.xml"))
            try s.end(rel)
            #expect(waitUntil { s.worker.log.contains("[Integrity sync] Finished in") }, "\(s.worker.log)")
            #expect(s.worker.log.contains("Package unpacked while it arrived"))
            #expect(paths.allSatisfy { FileManager.default.fileExists(atPath: s.home + "/" + $0) })
            #expect(!FileManager.default.fileExists(atPath: s.home + "/etc/rules/local.xml"), "extra file deleted")
            #expect(Self.temporaryFiles(s.home).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: s.home + "/queue/cluster/worker1")) ?? ["?"]).isEmpty)
        }
    }

    @Test func masterGoneMidPackageLeavesNothingOnTheWorker() throws {
        try Self.session("stream-cut") { s in
            let (paths, bytes) = try Self.package(count: 300, prefix: "c", in: s.base, for: s.home)
            try s.send("/queue/cluster/worker1/worker1-1.0-cut.zip", bytes, end: false)
            #expect(waitUntil { !Self.temporaryFiles(s.home).isEmpty }, "staging started")
            shutdown(s.conn.fd, Int32(SHUT_RDWR))
            #expect(waitUntil { s.worker.log.contains("The master closed the connection") })
            #expect(waitUntil { Self.temporaryFiles(s.home).isEmpty }, "\(Self.temporaryFiles(s.home).prefix(3))")
            #expect(paths.allSatisfy { !FileManager.default.fileExists(atPath: s.home + "/" + $0) })
            #expect((try? String(contentsOfFile: s.home + "/etc/rules/local.xml", encoding: .utf8)) == "keep\n")
            #expect(!FileManager.default.fileExists(atPath: s.home + "/etc/decoders/sub"), "directories made for it removed")
        }
    }

    @Test func packageNamedBySynMCEWinsOverTheOneStagedEarly() throws {
        try Self.session("stream-other") { s in
            let first = try Self.package(count: 60, prefix: "first", in: s.base, for: s.home)
            let second = try Self.package(count: 40, prefix: "second", in: s.base, for: s.home)
            try s.send("/queue/cluster/worker1/worker1-1.0-first.zip", first.bytes)
            try s.send("/queue/cluster/worker1/worker1-2.0-second.zip", second.bytes)
            try s.end("/queue/cluster/worker1/worker1-2.0-second.zip")
            #expect(waitUntil { s.worker.log.contains("[Integrity sync] Finished in") }, "\(s.worker.log)")
            #expect(second.paths.allSatisfy { FileManager.default.fileExists(atPath: s.home + "/" + $0) })
            #expect(first.paths.allSatisfy { !FileManager.default.fileExists(atPath: s.home + "/" + $0) })
            #expect(Self.temporaryFiles(s.home).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: s.home + "/queue/cluster/worker1")) ?? ["?"]).isEmpty,
                    "both received packages removed")
        }
    }

    @Test func masterStopsItsStreamedPackageWhenTheWorkerCancels() throws {
        let base = Harness.tempDir("stream-cancel")
        // This raw worker sends no keep-alives: a limit past the test, or a loaded machine's slow check
        // gets it dropped before the package is sent.
        let spec = Harness.NodeSpec(name: "master-node", type: "master", port: 0,
                                    intervals: ["master": ["agent_group_start_delay": 1000, "max_allowed_time_without_keepalive": 120]])
        let home = try Harness.makeHome(spec, in: base)
        // 24 MiB that does not compress: 24 chunks of 1 MiB, far more than the master builds ahead.
        for i in 0..<3 {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<(8 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
            try Data(bytes).write(to: URL(fileURLWithPath: home + "/etc/rules/big\(i).bin"))
        }
        let (master, port) = try Harness.startMaster(spec, in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil(20) { master.log.contains("Calculated metadata of 3 files.") })

        let c = try RawClient(port: port, key: Harness.key)
        let answerNothing: (WireMessage) throws -> Void = { m in Issue.record("unexpected request \(m.name)") }
        #expect(try c.request("hello", payload: Array("worker2 wazuh worker 4.8.1".utf8), answering: answerNothing)?.name == "ok")
        #expect(try c.request("syn_i_w_m_p", payload: [], answering: answerNothing).map { String(decoding: $0.payload, as: UTF8.self) } == "True")
        let checkID = String(decoding: try #require(try c.request("syn_i_w_m", payload: [], answering: answerNothing)).payload, as: UTF8.self)
        let metadata = try PackageWriter(format: .wazuh, home: base + "/empty").metadataPackage(IntegrityMetadata()).bytes
        let rel = "/queue/cluster/worker2/worker2-1.0-meta.zip"
        _ = try c.request("new_file", payload: Array(rel.utf8), answering: answerNothing)
        _ = try c.request("file_upd", payload: Array(rel.utf8) + [0x20] + metadata, answering: answerNothing)
        _ = try c.request("file_end", payload: Array(rel.utf8) + [0x20] + Array(SHA256.hash(data: metadata)), answering: answerNothing)
        _ = try c.request("syn_i_w_m_e", payload: Array("\(checkID) \(rel.dropFirst())".utf8), answering: answerNothing)

        var chunks = 0
        var commands: [String] = []
        var cancelled = false
        let syncID = "39e1b25b-3f32-4f24-920a-b4e53631dca5"
        func answer(_ m: WireMessage) throws {
            commands.append(m.name)
            switch m.name {
            case "syn_m_c": try c.reply(to: m, "ok", Array(syncID.utf8))
            case "new_file": try c.reply(to: m, "ok ", Array("Ready to receive new file".utf8))
            case "file_upd":
                chunks += 1
                try c.reply(to: m, "ok", Array("File updated".utf8))
            default: try c.reply(to: m, "ok", Array("Thanks".utf8))
            }
        }
        c.setTimeout(20)
        while let m = try c.receive() {
            try answer(m)
            if m.name == "file_upd" && !cancelled {
                cancelled = true
                let error = WazuhException.cluster(3039).json.pythonText
                let reply = try c.request("cancel_task", payload: Array("\(syncID) \(error)".utf8), answering: answer)
                #expect(reply.map { String(decoding: $0.payload, as: UTF8.self) } == "Request received correctly")
            }
            if commands.last == "syn_m_c_e" { break }
        }
        #expect(commands.first == "syn_m_c" && commands.contains("file_end") && commands.last == "syn_m_c_e", "\(commands)")
        #expect(chunks >= 1 && chunks < 12, "sending stopped soon after the cancel: \(chunks) chunks")
        #expect(waitUntil { master.log.contains("Decreasing sync size limit to") }, "\(master.log)")
        #expect(!master.log.contains("Error sending zip file"))
    }
}
