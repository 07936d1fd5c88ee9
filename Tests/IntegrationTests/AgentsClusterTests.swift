import Common
import Foundation
import Testing

/// Agents across real processes: registration through a worker, keep-alives, agent groups.
@Suite(.serialized) struct AgentsClusterTests {
    struct Trio {
        let base: String
        let master: Node, w1: Node, w2: Node
        let backend: Backend
        /// The wazuh-db stand-ins by node name (with the wazuh-db backend).
        let wdb: [String: WdbSim]

        init(_ label: String, backend: Backend = .embedded, intervals: [String: [String: Double]] = [:],
             wdbArgs: [String: [String]] = [:]) throws {
            let dir = Harness.tempDir(label)
            base = dir
            self.backend = backend
            var wdb: [String: WdbSim] = [:]
            if backend == .wazuhDB {
                for (name, worker) in [("master-node", false), ("worker1", true), ("worker2", true)] {
                    wdb[name] = try WdbSim(home: dir + "/" + name, nodeName: name, worker: worker, extraArgs: wdbArgs[name] ?? [])
                }
            }
            self.wdb = wdb
            // The group directory is made before the master starts (start-up keeps what its home holds).
            try FileManager.default.createDirectory(atPath: dir + "/master-node/etc/shared/web", withIntermediateDirectories: true)
            let (m, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0, intervals: intervals), in: dir)
            func home(_ name: String, _ type: String) throws -> String {
                let h = try Harness.makeHome(.init(name: name, type: type, port: port, intervals: intervals), in: dir)
                try FileManager.default.createDirectory(atPath: h + "/etc/shared/web", withIntermediateDirectories: true)
                return h
            }
            #expect(waitUntil { m.log.contains("Serving on ('127.0.0.1'") })
            let a = try Node(home: try home("worker1", "worker"))
            let b = try Node(home: try home("worker2", "worker"))
            #expect(waitUntil { a.log.contains("Successfully connected to master.") && b.log.contains("Successfully connected to master.") })
            (master, w1, w2) = (m, a, b)
        }

        var nodes: [Node] { [master, w1, w2] }

        func stop() {
            for n in [w1, w2, master] { n.stop() }
            for sim in wdb.values { sim.stop() }
            try? FileManager.default.removeItem(atPath: base)
        }

        /// With wazuh-db: the node logged its choice, and no clusterd process has global.db open.
        func checkBackend() {
            for n in nodes {
                let expected = backend == .wazuhDB ? "Agent database: wazuh-db at \(n.home)/queue/db/wdb" : "Agent database: embedded SQLite store"
                #expect(n.log.contains(expected), "\(n.home): \(n.log.prefix(1500))")
                if backend == .wazuhDB { #expect(ProcFS.openFiles(n.pid).allSatisfy { !$0.contains("global.db") }) }
            }
        }
    }

    /// Sends authd's JSON through a node's local socket as a C daemon would, and returns authd's reply.
    static func register(through home: String, name: String, group: String? = nil) throws -> JSONValue {
        var args: [(String, JSONValue)] = [("name", .string(name)), ("ip", "any")]
        if let group { args.append(("groups", .string(group))) }
        let request: JSONValue = ["daemon_name": "authd", "message": ["arguments": .object(JSONObject(args)), "function": "add"]]
        let reply = try LocalClient(home: home, timeout: 10).execute(command: "sendsync", payload: Array(request.compactText.utf8))
        return try JSONParser.parse(reply)
    }

    static func store(_ node: Node, _ name: String) throws -> AgentStore {
        try AgentStore.open(home: node.home, nodeName: name)
    }

    @Test(arguments: Backend.allCases) func registrationThroughAWorkerReachesEveryNode(backend: Backend) throws {
        let t = try Trio("register", backend: backend)
        defer { t.stop() }
        let reply = try Self.register(through: t.w1.home, name: "web-01", group: "web")
        #expect(reply["error"]?.intValue == 0, "\(reply.pythonText)")
        let id = try #require(reply["data"]?["id"]?.stringValue)
        let key = try #require(reply["data"]?["key"]?.stringValue)
        #expect(id == "001" && key.count == 64 && key.allSatisfy(\.isHexDigit))
        // Within two integrity intervals (0.5 s here) client.keys is identical everywhere.
        let keysOf = { (n: Node) in try? String(contentsOfFile: n.home + "/etc/client.keys", encoding: .utf8) }
        #expect(waitUntil(5) { keysOf(t.master) == keysOf(t.w1) && keysOf(t.master) == keysOf(t.w2) && keysOf(t.w2) != nil })
        #expect(keysOf(t.master) == "001 web-01 any \(key)\n")
        for (node, name) in [(t.master, "master-node"), (t.w1, "worker1"), (t.w2, "worker2")] {
            let store = try Self.store(node, name)
            #expect(waitUntil(5) { (try? store.agent(id: 1))?.name == "web-01" }, "agent in \(name)'s store")
        }
        // The group assignment reaches every worker and the global hashes match.
        let masterStore = try Self.store(t.master, "master-node")
        let hash = try #require(try masterStore.globalGroupHash())
        for (node, name) in [(t.w1, "worker1"), (t.w2, "worker2")] {
            let store = try Self.store(node, name)
            #expect(waitUntil(8) { (try? store.globalGroupHash()) == hash }, "\(name)'s global group hash")
            #expect(try store.agent(id: 1)?.groups == ["web"])
        }
        t.checkBackend()
    }

    @Test(arguments: Backend.allCases) func keepalivesOnAWorkerReachTheMasterWithItsNodeName(backend: Backend) throws {
        let t = try Trio("keepalive", backend: backend)
        defer { t.stop() }
        for i in 1...3 { #expect(try Self.register(through: t.w2.home, name: "agent-\(i)")["error"]?.intValue == 0) }
        let w2Store = try Self.store(t.w2, "worker2")
        #expect(waitUntil(5) { ((try? w2Store.agents()) ?? []).count == 4 })
        let sim = try runTool("agent-sim", ["keepalive", "--home", t.w2.home, "--json"])
        #expect(sim.status == 0, "\(sim.err)")
        let masterStore = try Self.store(t.master, "master-node")
        #expect(waitUntil(5) {
            let agents = ((try? masterStore.agents()) ?? []).filter { $0.id > 0 }
            return agents.count == 3 && agents.allSatisfy { $0.nodeName == "worker2" && $0.connectionStatus == "active" && $0.version == "Wazuh v4.8.1" }
        }, "master log:\n\(t.master.log.suffix(1500))")
        #expect(waitUntil(5) { t.master.log.contains("[Worker worker2] [Agent-info sync] Finished in") })
        let control = try runTool("cluster_control", ["--home", t.w1.home, "-a", "-fn", "worker2"])
        #expect(control.status == 0, "\(control.err)")
        #expect(control.out.hasPrefix("ID   NAME     IP        STATUS  VERSION       NODE NAME  \n"))
        #expect(control.out.components(separatedBy: "worker2").count == 4)
        t.checkBackend()
    }

    @Test(arguments: Backend.allCases) func localGroupDriftIsRepairedByAFullResync(backend: Backend) throws {
        let t = try Trio("fullsync", backend: backend, intervals: ["worker": ["agent_groups_mismatch_limit": 2]])
        defer { t.stop() }
        #expect(try Self.register(through: t.master.home, name: "db-1", group: "web")["error"]?.intValue == 0)
        let w1Store = try Self.store(t.w1, "worker1")
        let masterStore = try Self.store(t.master, "master-node")
        #expect(waitUntil(8) { (try? w1Store.agent(id: 1))?.groups == ["web"] })
        // Alter the worker's groups behind the master's back.
        _ = try w1Store.setAgentGroups(#"{"mode":"override","sync_status":"synced","data":[{"id":1,"groups":["default","rogue"]}]}"#)
        #expect(try w1Store.globalGroupHash() != masterStore.globalGroupHash())
        #expect(waitUntil(15) { (try? w1Store.globalGroupHash()) == (try? masterStore.globalGroupHash()) }, "worker log:\n\(t.w1.log.suffix(2000))")
        #expect(t.w1.log.contains("Sent request to obtain all agent-groups information from the master node."))
        #expect(t.master.log.contains("[Worker worker1] [Agent-groups send full] Starting."))
        #expect(try w1Store.agent(id: 1)?.groups == ["web"])
    }

    /// `agent-sim assign` through a worker: the DAPI request reaches the master, and the new groups reach
    /// the other worker by agent-groups sync. An unknown agent is a failure the tool reports.
    @Test func agentSimAssignMovesAgentsThroughTheDAPI() throws {
        let t = try Trio("assign")
        defer { t.stop() }
        for name in ["as-1", "as-2"] { #expect(try Self.register(through: t.master.home, name: name)["error"]?.intValue == 0) }
        let w2Store = try Self.store(t.w2, "worker2")
        #expect(waitUntil(8) { (try? w2Store.agent(id: 2))?.groups == ["default"] })
        let run = try runTool("agent-sim", ["assign", "--home", t.w1.home, "--group", "web", "--ids", "1,2"])
        #expect(run.status == 0 && run.out.contains("assigned 2 agents to web, failed 0"), "\(run)")
        #expect(waitUntil(15) { (try? w2Store.agent(id: 1))?.groups == ["default", "web"] && (try? w2Store.agent(id: 2))?.groups == ["default", "web"] },
                "worker2 log:\n\(t.w2.log.suffix(1500))")
        let missing = try runTool("agent-sim", ["assign", "--home", t.master.home, "--group", "web", "--ids", "999"])
        #expect(missing.status == 1 && missing.out.contains("failed 1"), "\(missing)")
        let badGroup = try runTool("agent-sim", ["assign", "--home", t.master.home, "--group", "../etc", "--ids", "1"])
        #expect(badGroup.status != 0 && badGroup.err.contains("not a valid group name"), "\(badGroup)")
    }

    @Test(arguments: Backend.allCases) func registrationErrorsAreAuthdStyleAndWriteNothing(backend: Backend) throws {
        let t = try Trio("regerrors", backend: backend)
        defer { t.stop() }
        #expect(try Self.register(through: t.w1.home, name: "dup")["error"]?.intValue == 0)
        let keys = { try? String(contentsOfFile: t.master.home + "/etc/client.keys", encoding: .utf8) }
        let before = keys()
        let masterStore = try Self.store(t.master, "master-node")
        let rows = try masterStore.agents().count
        let duplicate = try Self.register(through: t.w1.home, name: "dup")
        #expect(duplicate["error"]?.intValue == 9008, "\(duplicate.pythonText)")
        let badGroup = try Self.register(through: t.w2.home, name: "new-one", group: "nosuchgroup")
        #expect(badGroup["error"]?.intValue == 9014)
        #expect(badGroup["message"]?.stringValue?.isEmpty == false)
        #expect(keys() == before)
        #expect(try masterStore.agents().count == rows)
        // Master unreachable: the worker answers in authd's terms.
        t.master.stop()
        #expect(waitUntil { t.w1.log.contains("The master closed the connection") })
        let unreachable = try Self.register(through: t.w1.home, name: "lonely")
        #expect(unreachable["error"]?.intValue == 9001, "\(unreachable.pythonText)")
        #expect(unreachable["message"]?.stringValue?.contains("3023") == true)
        #expect(keys() == before)
    }
}

/// The SendSync routes that do not use the built-in registration service, and the store's start-up checks.
@Suite(.serialized) struct SendSyncRoutingTests {
    /// A one-shot fake daemon on a Unix socket speaking 4-byte little-endian framing.
    final class FakeDaemon: @unchecked Sendable {
        let fd: Int32
        private(set) var received: [UInt8] = []
        let done = DispatchSemaphore(value: 0)

        init(path: String, reply: String) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let fd = self.fd
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            listen(fd, 1)
            Thread { [self] in
                let c = accept(fd, nil, nil)
                var header = [UInt8](repeating: 0, count: 4)
                _ = recv(c, &header, 4, Int32(MSG_WAITALL))
                let n = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
                var body = [UInt8](repeating: 0, count: n)
                _ = recv(c, &body, n, Int32(MSG_WAITALL))
                self.received = body
                var length = UInt32(reply.utf8.count).littleEndian
                let out = withUnsafeBytes(of: &length) { Array($0) } + Array(reply.utf8)
                _ = out.withUnsafeBytes { send(c, $0.baseAddress, $0.count, 0) }
                close(c)
                self.done.signal()
            }.start()
        }

        deinit { close(fd) }
    }

    @Test func registrationGoesToAuthdWhenItsSocketExists() throws {
        let base = Harness.tempDir("authd")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let masterHome = base + "/master-node"
        let authdReply = #"{"error":0,"data":{"id":"042","name":"from-real-authd","ip":"any","key":"abc"}}"#
        let daemon = try FakeDaemon(path: masterHome + "/queue/sockets/auth", reply: authdReply)
        // No option: the socket's presence (a Wazuh manager's authd) is enough.
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        let worker = try Node(home: try Harness.makeHome(.init(name: "worker1", port: port), in: base))
        defer { worker.stop(); master.stop() }
        #expect(waitUntil { worker.log.contains("Successfully connected to master.") })
        let request = #"{"daemon_name":"authd","message":{"arguments":{"name":"from-real-authd","ip":"any"},"function":"add"}}"#
        let reply = try LocalClient(home: worker.home, timeout: 10).execute(command: "sendsync", text: request)
        #expect(reply == authdReply)
        #expect(daemon.done.wait(timeout: .now() + 5) == .success)
        #expect(String(decoding: daemon.received, as: UTF8.self) == #"{"arguments": {"name": "from-real-authd", "ip": "any"}, "function": "add"}"#)
        #expect(!FileManager.default.fileExists(atPath: masterHome + "/etc/client.keys"), "the built-in service was not used")
    }

    @Test func unknownDaemonGetsAnError() throws {
        let base = Harness.tempDir("nodaemon")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        let worker = try Node(home: try Harness.makeHome(.init(name: "worker1", port: port), in: base))
        defer { worker.stop(); master.stop() }
        #expect(waitUntil { worker.log.contains("Successfully connected to master.") })
        #expect {
            try LocalClient(home: worker.home, timeout: 10).execute(command: "sendsync", text: #"{"daemon_name":"nosuchd","message":"x"}"#)
        } throws: { error in
            "\(error)".contains("1014") && "\(error)".contains("unknown daemon 'nosuchd'")
        }
    }

    @Test func corruptDatabaseStopsTheStartAndIsLeftAlone() throws {
        let base = Harness.tempDir("corrupt")
        defer { try? FileManager.default.removeItem(atPath: base) }
        // The master stops before it binds its port (the database is opened first): nobody listens on it.
        let home = try Harness.makeHome(.init(name: "master-node", type: "master", port: Harness.freePort()), in: base)
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try garbage.write(to: URL(fileURLWithPath: home + "/queue/db/global.db"))
        let node = try Node(home: home)
        #expect(waitUntil(10) { !node.isRunning })
        #expect(node.process.terminationStatus == 1)
        #expect(node.log.contains("Cannot open the agent database") && node.log.contains("global.db"), "\(node.log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: home + "/queue/db/global.db")) == garbage)
    }
}
