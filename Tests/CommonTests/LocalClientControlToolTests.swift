import Foundation
import Testing
@testable import Common

/// The built `cluster_control` binary end to end: a temp home with a valid ossec.conf, a pid file of this
/// test process (so the daemon looks alive), and a fake daemon on the socket replaying the real master's
/// replies. Needs `swift build` to have built the binary (`CLUSTERD_BIN_DIR` overrides where it is).
@Suite struct LocalClientControlToolTests {
    static let ossecConf = """
        <ossec_config>
          <cluster>
            <name>wazuh</name>
            <node_name>master-node</node_name>
            <node_type>master</node_type>
            <key>c98b62a9b6169ac5f67dae55ae4a9088</key>
            <port>1516</port>
            <bind_addr>0.0.0.0</bind_addr>
            <nodes><node>127.0.0.1</node></nodes>
            <hidden>no</hidden>
            <disabled>no</disabled>
          </cluster>
        </ossec_config>
        """

    struct Home {
        let dir: TemporaryDirectory
        var path: String { dir.path }
        var socket: String { dir.path + "/queue/cluster/c-internal.sock" }

        init(conf: String = LocalClientControlToolTests.ossecConf, pidFile: Bool = true) throws {
            dir = TemporaryDirectory()
            let fm = FileManager.default
            for sub in ["etc", "var/run", "queue/cluster"] {
                try fm.createDirectory(atPath: dir.path + "/" + sub, withIntermediateDirectories: true)
            }
            try conf.write(toFile: dir.path + "/etc/ossec.conf", atomically: true, encoding: .utf8)
            if pidFile {
                let pid = ProcessInfo.processInfo.processIdentifier
                try "\(pid)\n".write(toFile: dir.path + "/var/run/wazuh-clusterd-\(pid).pid", atomically: true, encoding: .utf8)
            }
        }
    }

    static var binary: String { TestPaths.binDir.appendingPathComponent("cluster_control").path }

    func runTool(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build cluster_control first: \(Self.binary)")
        let r = try run(Self.binary, args)
        return (r.status, r.stdoutText, r.stderr)
    }

    /// Serves one `get_nodes` with the capture's reply and checks the request payload.
    static func serveNodes(_ c: FakeConnection, filterNode: [String]?) throws {
        let request = try c.expect("get_nodes", String(decoding: ClusterControlRequests.nodesPayload(filterNode: filterNode), as: UTF8.self))
        try c.send(counter: request.counter, command: "ok", payload: ControlFixtures.messages("session3-local-cluster-control.conn1.s2c.bin")[0].payload)
    }

    @Test func listNodes() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        server.start { c in try Self.serveNodes(c, filterNode: nil) }
        let r = try runTool(["--home", home.path, "-l"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == (try ControlFixtures.outputs())["-l"])
        #expect(r.err == "")
    }

    @Test func listNodesAsJSON() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        server.start { c in try Self.serveNodes(c, filterNode: ["worker1"]) }
        let r = try runTool(["--home", home.path, "-l", "-fn", "worker1", "--json"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == (try ControlFixtures.nodes()).pythonText + "\n")
    }

    @Test func healthOfFilteredNodesSkipsGetNodes() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        let health = try ControlFixtures.messages("session3-local-cluster-control.conn3.s2c.bin")[0].payload
        server.start { c in
            let request = try c.expect("get_health", #"["worker1"]"#)
            try c.send(counter: request.counter, command: "ok", payload: health)
        }
        let r = try runTool(["--home", home.path, "-i", "-fn", "worker1"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == ControlOutput.health(clusterName: "wazuh", health: try JSONParser.parse(health), more: false))
        #expect(r.out.hasPrefix("Cluster name: wazuh\n\nLast completed synchronization for connected nodes (1):\n    worker1 (127.0.0.1): "))
    }

    @Test func healthMore() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        let conn3 = try ControlFixtures.messages("session3-local-cluster-control.conn3.c2s.bin")[0]
        let health = try ControlFixtures.messages("session3-local-cluster-control.conn3.s2c.bin")[0].payload
        let nodes = try ControlFixtures.messages("session3-local-cluster-control.conn1.s2c.bin")[0].payload
        server.start(connections: 2) { c in
            let request = try c.receive()
            switch request.name {
            case "get_nodes":
                try c.send(counter: request.counter, command: "ok", payload: nodes)
            case "get_health":
                guard request.payload == conn3.payload else {
                    throw FakeLocalServer.Failure(description: "get_health payload \(String(decoding: request.payload, as: UTF8.self))")
                }
                try c.send(counter: request.counter, command: "ok", payload: health)
            default:
                throw FakeLocalServer.Failure(description: "unexpected \(request.name)")
            }
        }
        let r = try runTool(["--home", home.path, "-i", "MORE"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == ControlOutput.health(clusterName: "wazuh", health: try JSONParser.parse(health), more: true))
        #expect(r.out.contains("Last integrity check: 0.017s"))
    }

    @Test func listAgentsThroughDAPI() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        let conn4 = try ControlFixtures.messages("session3-local-cluster-control.conn4.c2s.bin")[0]
        let result = try ControlFixtures.agentsResultText()
        server.start { c in
            let request = try c.expect("dapi", String(decoding: conn4.payload, as: UTF8.self))
            try c.reply(to: request, "ok", "Added request to API requests queue")
            _ = try c.sendString(result)
        }
        let r = try runTool(["--home", home.path, "-a", "-fn", "worker1"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == (try ControlFixtures.outputs())["-a -fs active -fn worker1"])
    }

    @Test func unknownNodeErrorExitsNonZero() throws {
        let home = try Home()
        let server = try FakeLocalServer(path: home.socket)
        server.start { c in
            let request = try c.expect("get_nodes")
            try c.send(counter: request.counter, command: "err", payload: WazuhException(.error, code: 1730).payload)
        }
        let r = try runTool(["--home", home.path, "-l", "-fn", "nosuchnode"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 1)
        #expect(r.out == "")
        #expect(r.err == (try ControlFixtures.outputs())["-l -fn nosuchnode"])
    }

    @Test func missingSocketExitsNonZero() throws {
        let home = try Home()
        let r = try runTool(["--home", home.path, "-l"])
        #expect(r.status == 1)
        #expect(r.out == "")
        #expect(r.err.hasPrefix("ERROR: Error 3012 - Cluster is not running"))
    }

    @Test func notRunningOrDisabled() throws {
        let noPid = try Home(pidFile: false)
        let r1 = try runTool(["--home", noPid.path, "-l"])
        #expect(r1.status == 1 && r1.err == "ERROR: Cluster is not running.\n")

        let disabled = try Home(conf: Self.ossecConf.replacingOccurrences(of: "<disabled>no</disabled>", with: "<disabled>yes</disabled>"))
        let r2 = try runTool(["--home", disabled.path, "-l"])
        #expect(r2.status == 1 && r2.err == "ERROR: Cluster is not running.\n")

        let dead = try Home(pidFile: false)
        try "".write(toFile: dead.path + "/var/run/wazuh-clusterd-999999999.pid", atomically: true, encoding: .utf8)
        #expect(try runTool(["--home", dead.path, "-l"]).err == "ERROR: Cluster is not running.\n")
    }

    @Test func invalidConfigurationIsReported() throws {
        let home = try Home(conf: Self.ossecConf.replacingOccurrences(of: "<port>1516</port>", with: "<port>80</port>"))
        let r = try runTool(["--home", home.path, "-l"])
        #expect(r.status == 1)
        #expect(r.err == "ERROR: \(home.path)/etc/ossec.conf: <cluster><port>: Port must be higher than 1024 and lower than 65535.\n")
    }

    @Test func argumentErrorsAndHelp() throws {
        let home = try Home()
        let wrong = try runTool(["--home", home.path, "-l", "-fs", "active"])
        #expect(wrong.status == 1)
        #expect(wrong.err.hasPrefix("ERROR: Wrong arguments.\n"))
        #expect(wrong.err.contains("[-a | -l | -i [HEALTH]]"))

        let exclusive = try runTool(["-l", "-a"])
        #expect(exclusive.status == 2)
        #expect(exclusive.err.contains("argument -a/--list-agents: not allowed with argument -l/--list-nodes"))

        let unknown = try runTool(["-x"])
        #expect(unknown.status == 2 && unknown.err.contains("unrecognized arguments: -x"))

        let help = try runTool(["-h"])
        #expect(help.status == 0 && help.out.hasPrefix("usage: cluster_control") && help.out.contains("--filter-agent-status"))

        let usage = try runTool(["-u"])
        #expect(usage.status == 0 && usage.out.contains("cluster_control [-h] [-d] [-fn [FILTER_NODE ...]]"))

        let noAction = try runTool(["--home", home.path])
        #expect(noAction.status == 0 && noAction.out.hasPrefix("usage: cluster_control"))
    }
}
