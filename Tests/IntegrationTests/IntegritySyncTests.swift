import Common
import Foundation
import Testing

/// Integrity sync between real master and worker processes (PROTOCOL.md §5).
@Suite(.serialized) struct IntegritySyncTests {
    static let items = ["etc/shared/default", "etc/shared/web/sub", "etc/rules/local", "etc/decoders", "etc/lists/amazon", "var/multigroups/a1b2"]

    /// Writes `count` files spread over every cluster item, in nested directories.
    static func populate(_ home: String, count: Int, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        try write(home, "etc/client.keys", Array("001 agent-1 any \(String(repeating: "a", count: 64))\n".utf8))
        for i in 0..<count {
            let dir = items[i % items.count] + "/d\(i % 7)"
            let name = dir.hasPrefix("var/multigroups") ? "d\(i)/merged.mg" : "file\(i).xml"
            try write(home, dir + "/" + name, (0..<(200 + Int(g.next() % 2000))).map { _ in UInt8(truncatingIfNeeded: g.next()) })
        }
    }

    static func write(_ home: String, _ rel: String, _ bytes: [UInt8]) throws {
        let path = home + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func metadata(_ home: String) throws -> String {
        let out = home + "/../" + (home as NSString).lastPathComponent + ".json"
        let r = try runTool("integrity-scan", ["--home", home, "--json"])
        #expect(r.status == 0, "\(r.err)")
        try r.out.write(toFile: out, atomically: true, encoding: .utf8)
        return out
    }

    static func inSync(_ master: String, _ worker: String) throws -> Bool {
        try runTool("integrity-scan", ["diff", metadata(master), metadata(worker)]).status == 0
    }

    @Test func workerConverges() throws {
        let base = Harness.tempDir("sync")
        let masterSpec = Harness.NodeSpec(name: "master-node", type: "master", port: 0)
        let masterHome = try Harness.makeHome(masterSpec, in: base)
        try Self.populate(masterHome, count: 2000, seed: 1)
        // The master starts first, on a port nobody else holds; the worker is prepared for that port.
        let (master, port) = try Harness.startMaster(masterSpec, in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port), in: base)
        // The worker has some of the files, some changed, some extra, and excluded files of its own.
        try Self.populate(workerHome, count: 1500, seed: 1)
        try Self.write(workerHome, "etc/rules/local/d2/file2.xml", Array("changed".utf8))
        try Self.write(workerHome, "etc/client.keys", Array("stale keys\n".utf8))
        try Self.write(workerHome, "etc/shared/web/sub/extra-only-here.conf", Array("extra".utf8))
        try Self.write(workerHome, "etc/shared/web/gone/deep/old.conf", Array("extra in a subdir".utf8))
        let excluded = ["etc/shared/default/ar.conf", "etc/rules/local/draft.xml.swp", "etc/ossec.conf.bak~", "etc/shared/web/agent.conf.tmp"]
        for e in excluded { try Self.write(workerHome, e, Array("keep me: \(e)".utf8)) }
        let ossecConf = try Data(contentsOf: URL(fileURLWithPath: workerHome + "/etc/ossec.conf"))
        #expect(try !Self.inSync(masterHome, workerHome))

        let worker = try Node(home: workerHome)
        defer { worker.stop() }
        #expect(waitUntil(20) { worker.log.contains("[Integrity sync] Finished in") }, "worker log:\n\(worker.log.suffix(3000))")
        // sync_integrity is 0.5 s here: two intervals after the first apply the trees must be equal.
        #expect(waitUntil(5) { (try? Self.inSync(masterHome, workerHome)) == true }, "master log:\n\(master.log.suffix(2000))")
        for e in excluded {
            #expect(FileManager.default.contents(atPath: workerHome + "/" + e) == Data("keep me: \(e)".utf8), "\(e) untouched")
        }
        #expect(FileManager.default.contents(atPath: workerHome + "/etc/ossec.conf") == ossecConf)
        #expect(!FileManager.default.fileExists(atPath: workerHome + "/etc/shared/web/gone"), "emptied subdirectory removed")
        var st = stat()
        stat(workerHome + "/etc/client.keys", &st)
        #expect(st.st_mode & 0o777 == 0o640)
        stat(workerHome + "/etc/rules/local/d2/file2.xml", &st)
        #expect(st.st_mode & 0o777 == 0o660)
        #expect(master.log.contains("[Worker worker1] [Integrity sync] Files to create in worker: 500 | Files to update in worker: 2 | Files to delete in worker: 2"), "\(master.log.suffix(3000))")
        #expect(waitUntil(5) { master.log.contains("Sync not required.") })
        // cluster_control -i shows the integrity dates, file counts and permission flag.
        let health = try runTool("cluster_control", ["--home", masterHome, "-i", "more"])
        #expect(health.out.contains("                Synchronized files: Shared: 2 | Missing: 500 | Extra: 2."), "\(health.out)")
        #expect(health.out.range(of: #"Last integrity check: \d+\.\d+s \(\d{4}-\d\d-\d\dT[0-9:.]+Z - \d{4}-\d\d-\d\dT[0-9:.]+Z\)\."#, options: .regularExpression) != nil)
        #expect(health.out.range(of: #"Permission to check integrity: (True|False)\."#, options: .regularExpression) != nil)
        // Temporary packages are removed after use (a round may be in flight at any moment, so wait for a gap).
        for home in [masterHome, workerHome] {
            #expect(waitUntil(3) {
                ((try? FileManager.default.subpathsOfDirectory(atPath: home + "/queue/cluster")) ?? []).allSatisfy { !$0.hasSuffix(".zip") }
            })
        }
    }

    @Test func convergesOverSeveralRoundsBelowTheSizeLimit() throws {
        let base = Harness.tempDir("ziplimit")
        let small = ["communication": ["max_zip_size": 200_000.0, "min_zip_size": 100_000.0]]
        let masterSpec = Harness.NodeSpec(name: "master-node", type: "master", port: 0, intervals: small)
        let masterHome = try Harness.makeHome(masterSpec, in: base)
        try Self.populate(masterHome, count: 600, seed: 2)  // ~700 KB: at least four rounds
        let (master, port) = try Harness.startMaster(masterSpec, in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port, intervals: small), in: base)
        let worker = try Node(home: workerHome)
        defer { worker.stop() }
        #expect(waitUntil(40) { (try? Self.inSync(masterHome, workerHome)) == true }, "master log:\n\(master.log.suffix(2000))\nworker log:\n\(worker.log.suffix(2000))")
        #expect(master.log.components(separatedBy: "[Integrity sync] Starting.").count >= 4)
        #expect(master.log.contains("Maximum zip size exceeded. Not all files will be compressed during this sync."))
    }

    @Test func killedDuringApplyLeavesNoPartialFileAndConverges() throws {
        let base = Harness.tempDir("kill")
        let masterSpec = Harness.NodeSpec(name: "master-node", type: "master", port: 0)
        let masterHome = try Harness.makeHome(masterSpec, in: base)
        try Self.populate(masterHome, count: 3000, seed: 3)
        let (master, port) = try Harness.startMaster(masterSpec, in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port), in: base)
        var worker = try Node(home: workerHome)
        // Kill the worker while it applies (its log says so), or as soon as files start appearing.
        #expect(waitUntil(20) { worker.log.contains("Updating local files: Start.") || FileManager.default.fileExists(atPath: workerHome + "/etc/client.keys") })
        worker.kill9()
        // A crash may leave temporary files; none may be visible once the worker is back.
        worker = try Node(home: workerHome)
        defer { worker.stop() }
        #expect(waitUntil(20) { (try? Self.inSync(masterHome, workerHome)) == true })
        let all = (try? FileManager.default.subpathsOfDirectory(atPath: workerHome + "/etc")) ?? []
        #expect(all.filter { $0.hasSuffix(PackageApplier.temporarySuffix) }.isEmpty, "\(all.filter { $0.hasSuffix(".tmp") })")
    }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
