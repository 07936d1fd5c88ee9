import Foundation
import Testing
@testable import Common

/// The built `agent-sim` binary end to end: `register` against a fake daemon socket answering like the
/// master's authd, `keepalive` against a worker home's store. Needs `swift build` to have built it.
@Suite struct StoreAgentSimTests {
    static var binary: String { TestPaths.binDir.appendingPathComponent("agent-sim").path }

    static func workerHome() throws -> LocalClientControlToolTests.Home {
        let conf = LocalClientControlToolTests.ossecConf
            .replacingOccurrences(of: "<node_name>master-node</node_name>", with: "<node_name>worker2</node_name>")
            .replacingOccurrences(of: "<node_type>master</node_type>", with: "<node_type>worker</node_type>")
        return try LocalClientControlToolTests.Home(conf: conf, pidFile: false)
    }

    @Test func registerSendsAuthdAddRequestsAndSummarises() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build agent-sim first: \(Self.binary)")
        let home = try Self.workerHome()
        let server = try FakeLocalServer(path: home.socket)
        server.start(connections: 3) { c in
            let request = try c.expect("sendsync")
            let text = String(decoding: request.payload, as: UTF8.self)
            let name = try JSONParser.parse(text)["message"]?["arguments"]?["name"]?.stringValue ?? "?"
            let expected = #"{"daemon_name":"authd","message":{"arguments":{"name":"\#(name)","ip":"any","groups":"web"},"function":"add"}}"#
            guard text == expected else { throw FakeLocalServer.Failure(description: "payload \(text)") }
            let answer = name == "t-00002"
                ? #"{"error":9008,"message":"Duplicate name"}"#
                : #"{"error":0,"data":{"id":"00\#(name.last!)","name":"\#(name)","ip":"any","key":"abc"}}"#
            try c.request("ok", answer)
        }
        let r = try run(Self.binary, ["register", "--home", home.path, "-n", "3", "--group", "web", "--prefix", "t-",
                                      "--concurrency", "1", "--json"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 1, "stderr: \(r.stderr)")
        let summary = try JSONParser.parse(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary.objectValue?.keys == ["registered", "failed", "errors", "seconds", "per_second"])
        #expect(summary["registered"] == 2 && summary["failed"] == 1)
        #expect(summary["errors"] == ["t-00002: authd error 9008: Duplicate name"])
    }

    @Test func registerPrintsOneLinePerAgent() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build agent-sim first: \(Self.binary)")
        let home = try Self.workerHome()
        let server = try FakeLocalServer(path: home.socket)
        server.start(connections: 1) { c in
            _ = try c.expect("sendsync")
            try c.request("ok", #"{"error":0,"data":{"id":"007","name":"solo-00001","ip":"any","key":"k"}}"#)
        }
        let r = try run(Self.binary, ["register", "--home", home.path, "-n", "1", "--prefix", "solo-"])
        #expect(server.finish().isEmpty)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdoutText.hasPrefix("007 solo-00001 any\nregistered 1, failed 0 in "))
    }

    @Test func keepaliveMarksAWorkersAgentsForAgentInfoSync() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build agent-sim first: \(Self.binary)")
        let home = try Self.workerHome()
        do {
            let store = try AgentStore.open(home: home.path, nodeName: "worker2")
            _ = try store.loadClientKeys([(1, "a1", "any", "k1"), (2, "a2", "192.168.1.2", "k2")])
        }
        let r = try run(Self.binary, ["keepalive", "--home", home.path, "--json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let summary = try JSONParser.parse(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary["keepalives"] == 2 && summary["failed"] == 0 && summary["sync_status"] == "syncreq")
        let store = try AgentStore.open(home: home.path, nodeName: "worker2")
        let agents = try store.agents().filter { $0.id > 0 }
        #expect(agents.allSatisfy { $0.connectionStatus == "active" && $0.nodeName == "worker2" && $0.syncStatus == "syncreq" })
        #expect(agents.map(\.ip) == ["10.0.0.1", "192.168.1.2"])
        #expect(agents.allSatisfy { $0.version == "Wazuh v4.8.1" && $0.osPlatform == "ubuntu" })
        let info = try store.syncAgentInfoGet()
        #expect(try JSONParser.parse(info.payload).arrayValue?.count == 2)
    }

    @Test func keepaliveWithoutAgentsFails() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build agent-sim first: \(Self.binary)")
        let home = try Self.workerHome()
        let r = try run(Self.binary, ["keepalive", "--home", home.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no agents registered in \(home.path)/queue/db/global.db"))
    }
}
