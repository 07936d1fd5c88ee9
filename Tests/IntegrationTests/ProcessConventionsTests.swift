import Common
import Foundation
import Testing

/// The daemon follows wazuh-clusterd 4.8.1's process conventions (issue #13, LOCAL-DAPI-CONTROL.md §3.3–3.5):
/// its pid file, switching from root to the wazuh user, the owners of synced files, `-c`, and the log
/// reopened on SIGHUP.
@Suite(.serialized) struct ProcessConventionsTests {
    static let asRoot = geteuid() == 0
    /// A pid above any `pid_max`: never a live process.
    static let deadPid: Int32 = 2_147_483_646

    static func wazuhIDs() throws -> (uid: uid_t, gid: gid_t) {
        (try #require(FileOwnership.userID("wazuh"), "no wazuh user: run scripts/install-deps"),
         try #require(FileOwnership.groupID("wazuh"), "no wazuh group: run scripts/install-deps"))
    }

    static func runDir(_ home: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: home + "/var/run")) ?? []).sorted()
    }

    /// The real, effective, saved and file-system ids of `/proc/<pid>/status`'s `Uid:` or `Gid:` line.
    static func ids(_ pid: Int32, _ field: String) -> [UInt32] {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return [] }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) }
    }

    static func attributes(_ path: String) -> (uid: uid_t, gid: gid_t, mode: Int)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid, Int(st.st_mode) & 0o7777)
    }

    @Test func pidFileHasWazuhsNameAndStaleOnesGo() throws {
        let base = Harness.tempDir("pidfile")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let spec = Harness.NodeSpec(name: "master-node", type: "master", port: 0)
        let home = try Harness.makeHome(spec, in: base)
        let stale = ["wazuh-clusterd-\(Self.deadPid).pid", "wazuh-clusterd_child_1-\(Self.deadPid).pid", "clusterd-\(Self.deadPid).pid"]
        let others = ["wazuh-analysisd-\(Self.deadPid).pid", "wazuh-clusterd.start.bak"]
        for name in stale + others { try "\(Self.deadPid)\n".write(toFile: home + "/var/run/" + name, atomically: false, encoding: .utf8) }

        let (master, _) = try Harness.startMaster(spec, in: base)
        defer { master.stop() }
        let name = "wazuh-clusterd-\(master.pid).pid"
        let path = home + "/var/run/" + name
        #expect(waitUntil { FileManager.default.fileExists(atPath: path) }, "var/run: \(Self.runDir(home))")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(master.pid)\n")
        #expect(Self.attributes(path)?.mode == 0o640)
        // The stale files of this daemon are gone, other daemons' files stay.
        #expect(Self.runDir(home) == (others + [name]).sorted())

        // cluster_control sees the daemon running, as the Wazuh framework does from the same file.
        let list = try runTool("cluster_control", ["--home", home, "-l"])
        #expect(list.status == 0, "\(list.err)")
        #expect(list.out.contains("master-node  master  4.8.1    127.0.0.1"), "\(list.out)")

        #expect(master.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: path), "removed on SIGTERM")
        let after = try runTool("cluster_control", ["--home", home, "-l"])
        #expect(after.status == 1 && after.err == "ERROR: Cluster is not running.\n")
    }

    /// Gives `home` and everything in it to wazuh, as an installed Wazuh home is.
    static func giveToWazuh(_ home: String, _ wazuh: (uid: uid_t, gid: gid_t)) throws {
        for path in [home] + (try FileManager.default.subpathsOfDirectory(atPath: home)).map({ home + "/" + $0 }) {
            #expect(lchown(path, wazuh.uid, wazuh.gid) == 0, "\(path)")
        }
    }

    /// Whether every thread of `pid` runs with these real, effective, saved and file-system ids.
    static func allThreads(of pid: Int32, run uid: uid_t, _ gid: gid_t) throws -> Bool {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        return tasks.count > 1 && tasks.allSatisfy { task in
            let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            return status.contains("\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n") && status.contains("\nGid:\t\(gid)\t\(gid)\t\(gid)\t\(gid)\n")
        }
    }

    @Test(.enabled(if: asRoot, "needs root: only a daemon started as root switches to the wazuh user"))
    func startedAsRootTheDaemonBecomesWazuhUnlessR() throws {
        let wazuh = try Self.wazuhIDs()
        let base = Harness.tempDir("privileges")
        defer { try? FileManager.default.removeItem(atPath: base) }
        // A master and a worker in homes owned by wazuh, both started as root without -r: they switch,
        // and still talk to each other (accepting, connecting, socket options, the local socket).
        var master: Node?
        var port = 0
        for _ in 0..<5 where master == nil {
            port = Harness.freePort()
            let home = try Harness.makeHome(.init(name: "master-node", type: "master", port: port), in: base)
            try? FileManager.default.removeItem(atPath: home + "/logs/cluster.log")
            try Self.giveToWazuh(home, wazuh)
            let node = try Node(home: home, stayRoot: false)
            let outcome = node.waitForMasterStartup(port: port, timeout: 30)
            if outcome == .serving { master = node } else { node.stop(); #expect(outcome == .addressInUse, "master: \(node.log)\(node.stderr)") }
        }
        let m = try #require(master)
        defer { m.stop() }
        let home = try Harness.makeHome(.init(name: "worker1", port: port), in: base)
        try Self.giveToWazuh(home, wazuh)
        let worker = try Node(home: home, stayRoot: false)
        defer { worker.stop() }
        #expect(waitUntil(20) { worker.log.contains("[Worker worker1] [Main] Successfully connected to master.") }, "worker log:\n\(worker.log)\n\(worker.stderr)")
        for node in [m, worker] {
            #expect(node.log.contains("[Cluster] [Main] Running as user wazuh (uid \(wazuh.uid)) and group wazuh (gid \(wazuh.gid))."), "\(node.home)")
            #expect(Self.ids(node.pid, "Uid") == Array(repeating: UInt32(wazuh.uid), count: 4))
            #expect(Self.ids(node.pid, "Gid") == Array(repeating: UInt32(wazuh.gid), count: 4))
            #expect(Self.ids(node.pid, "Groups") == [UInt32(wazuh.gid)], "root's supplementary groups are gone")
            #expect(try Self.allThreads(of: node.pid, run: wazuh.uid, wazuh.gid), "every thread of \(node.home)")
            #expect((try? String(contentsOfFile: "/proc/\(node.pid)/comm", encoding: .utf8)) == "clusterd\n", "the process keeps its name")
            // What the daemon made after the switch is the wazuh user's, as with 4.8.1.
            for made in [node.home + "/queue/cluster/c-internal.sock", node.home + "/var/run/wazuh-clusterd-\(node.pid).pid"] {
                let a = try #require(Self.attributes(made), "\(made)")
                #expect(a.uid == wazuh.uid && a.gid == wazuh.gid, "\(made)")
            }
            #expect(Self.attributes(node.home + "/logs/cluster.log").map { $0.uid == wazuh.uid && $0.gid == wazuh.gid && $0.mode == 0o660 } == true)
        }
        let list = try runTool("cluster_control", ["--home", home, "-l"])
        #expect(list.status == 0 && list.out.contains("worker1      worker  4.8.1    127.0.0.1"), "\(list.out)\(list.err)")
        #expect(worker.stop() == 0)
        #expect(Self.runDir(home).isEmpty, "the wazuh user removed its pid file")

        // With -r it stays root.
        let offset = worker.log.utf8.count
        let root = try Node(home: home, stayRoot: true)
        defer { root.stop() }
        let newLog = { String(decoding: root.log.utf8.dropFirst(offset), as: UTF8.self) }
        #expect(waitUntil(20) { newLog().contains("Successfully connected to master.") }, "\(newLog())")
        #expect(Self.ids(root.pid, "Uid") == [0, 0, 0, 0])
        #expect(Self.ids(root.pid, "Gid") == [0, 0, 0, 0])
        #expect(newLog().contains("[Cluster] [Main] Running as root: -r given."))
    }

    @Test(.enabled(if: asRoot, "needs root: only root can give synced files to the wazuh user"))
    func syncedFilesGetTheirItemsOwnerAndMode() throws {
        let wazuh = try Self.wazuhIDs()
        let base = Harness.tempDir("owners")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let masterSpec = Harness.NodeSpec(name: "master-node", type: "master", port: 0)
        let masterHome = try Harness.makeHome(masterSpec, in: base)
        let files: [(String, Int)] = [
            ("etc/client.keys", 0o640), ("etc/shared/default/agent.conf", 0o660), ("etc/shared/web/sub/extra.conf", 0o660),
            ("var/multigroups/a1b2/merged.mg", 0o660), ("etc/rules/local_rules.xml", 0o660),
            ("etc/decoders/local_decoder.xml", 0o660), ("etc/lists/amazon/aws-eventnames", 0o660),
        ]
        for (path, _) in files { try IntegritySyncTests.write(masterHome, path, Array("content of \(path)\n".utf8)) }
        let (master, port) = try Harness.startMaster(masterSpec, in: base)
        defer { master.stop() }
        let workerHome = try Harness.makeHome(.init(name: "worker1", port: port), in: base)
        // An older client.keys of the worker's, root's and 0600: it is replaced, not chmodded in place.
        try IntegritySyncTests.write(workerHome, "etc/client.keys", Array("stale\n".utf8))
        chmod(workerHome + "/etc/client.keys", 0o600)
        let worker = try Node(home: workerHome)
        defer { worker.stop() }
        #expect(waitUntil(20) { worker.log.contains("[Integrity sync] Finished in") }, "worker log:\n\(worker.log.suffix(3000))")
        for (path, mode) in files {
            let a = try #require(Self.attributes(workerHome + "/" + path), "\(path) was not synced")
            #expect(a.uid == wazuh.uid && a.gid == wazuh.gid, "\(path): \(a.uid):\(a.gid)")
            #expect(a.mode == mode, "\(path): \(String(a.mode, radix: 8))")
        }
        #expect(try String(contentsOfFile: workerHome + "/etc/client.keys", encoding: .utf8) == "content of etc/client.keys\n")
        for made in ["etc/shared/web", "etc/shared/web/sub", "var/multigroups/a1b2", "etc/lists/amazon"] {
            let a = try #require(Self.attributes(workerHome + "/" + made), "\(made)")
            #expect(a.uid == wazuh.uid && a.gid == wazuh.gid && a.mode == 0o770, "\(made)")
        }
        #expect(!worker.log.contains("Synced files get their cluster item's mode but not its owner"))
    }

    @Test func dashCNamesAnotherConfigurationFile() throws {
        let base = Harness.tempDir("dashc")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let home = try Harness.makeHome(.init(name: "worker1", port: Harness.freePort()), in: base)
        let good = try String(contentsOfFile: home + "/etc/ossec.conf", encoding: .utf8)
        let other = base + "/other.conf"
        try good.replacingOccurrences(of: "<node_name>worker1</node_name>", with: "<node_name>worker-c</node_name>")
            .write(toFile: other, atomically: true, encoding: .utf8)
        // The home's own file is broken: only the named one is read.
        try good.replacingOccurrences(of: "<port>", with: "<port>x").write(toFile: home + "/etc/ossec.conf", atomically: true, encoding: .utf8)
        let broken = try runTool("clusterd", ["-t", "--home", home])
        #expect(broken.status == 1 && (broken.out + broken.err).contains("Cluster port must be an integer."))
        let ok = try runTool("clusterd", ["-t", "--home", home, "-c", other])
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        #expect(ok.out == "clusterd: configuration OK (worker 'worker-c' of cluster 'wazuh')\n")

        for missing in [base + "/no-such.conf", base] {
            let r = try runTool("clusterd", ["-t", "--home", home, "-c", missing])
            #expect(r.status == 1)
            #expect((r.out + r.err).contains("\(missing): cannot read the configuration file"), "\(r.out)\(r.err)")
        }
        let daemon = try runTool("clusterd", ["-r", "--home", home, "-c", base + "/no-such.conf"])
        #expect(daemon.status == 1 && daemon.err.contains("no-such.conf: cannot read the configuration file"), "\(daemon.err)")

        // A running node uses the named file too.
        let node = try Node(home: home, extraArgs: ["-d", "-c", other])
        defer { node.stop() }
        #expect(waitUntil { node.log.contains("[Worker worker-c] [Main]") }, "log:\n\(node.log)")
    }

    @Test func sighupReopensAMovedLog() throws {
        let base = Harness.tempDir("sighup")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let home = try Harness.makeHome(.init(name: "worker1", port: Harness.freePort()), in: base)
        let node = try Node(home: home)
        defer { node.stop() }
        let log = home + "/logs/cluster.log"
        // The worker keeps logging its attempts to reach the absent master.
        #expect(waitUntil { node.log.contains("Could not connect to master") }, "log:\n\(node.log)")
        #expect(rename(log, log + ".1") == 0)
        #expect(kill(node.pid, SIGHUP) == 0)
        #expect(waitUntil { node.log.contains("[Cluster] [Main] SIGHUP received: log file reopened.") }, "log:\n\(node.log)")
        #expect(waitUntil { node.log.contains("Could not connect to master") }, "new lines go to the new file:\n\(node.log)")
        #expect(node.isRunning)
        let moved = try String(contentsOfFile: log + ".1", encoding: .utf8)
        #expect(!moved.contains("SIGHUP received"))
        #expect(Self.attributes(log)?.mode == 0o660)
        #expect(node.stop() == 0)
    }
}
