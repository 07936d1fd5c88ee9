import Foundation
import Testing
@testable import Common

/// `LocalClient` against a fake daemon socket (§1.2–§1.8), and the request payloads of §2.9 against the
/// bytes the real `cluster_control` sent (session3 captures).
@Suite struct LocalClientTests {
    /// A temp home with its `queue/cluster` directory and a fake server on its socket. The client's timers
    /// run on `clock`, which moves only when a test advances it: a flow that needs no timer cannot time out
    /// on a slow machine, and a test of a timer decides when its deadline passes.
    struct Setup {
        let home: TemporaryDirectory
        let server: FakeLocalServer
        let clock = ManualLocalClock()
        var client: LocalClient

        init(timeout: Double = 5, asyncTimeout: Double = 5, keepAlive: Double = 60) throws {
            home = TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: home.path + "/queue/cluster", withIntermediateDirectories: true)
            client = LocalClient(home: home.path, timeout: timeout, asyncTimeout: asyncTimeout, keepAliveInterval: keepAlive,
                                 clock: clock)
            server = try FakeLocalServer(path: client.socketPath)
        }

        /// Starts `command` on a thread of its own, for a test that moves the clock while it waits.
        func startExecute(_ command: String, _ payload: [UInt8] = []) -> BackgroundCall<[UInt8]> {
            let client = client
            return BackgroundCall { try client.execute(command: command, payload: payload) }
        }
    }

    static let nodesReply = Array(#"{"items": [{"name": "master-node", "type": "master", "version": "4.8.1", "ip": "127.0.0.1"}], "totalItems": 1}"#.utf8)

    // MARK: payloads

    @Test func requestPayloadsMatchTheRealTool() throws {
        let conn1 = try ControlFixtures.messages("session3-local-cluster-control.conn1.c2s.bin")[0]
        #expect(conn1.name == "get_nodes")
        #expect(ClusterControlRequests.nodesPayload(filterNode: nil) == conn1.payload)
        let conn3 = try ControlFixtures.messages("session3-local-cluster-control.conn3.c2s.bin")[0]
        #expect(conn3.name == "get_health")
        #expect(ClusterControlRequests.healthPayload(filterNode: ["master-node", "worker1"]) == conn3.payload)
        let conn4 = try ControlFixtures.messages("session3-local-cluster-control.conn4.c2s.bin")[0]
        #expect(conn4.name == "dapi")
        #expect(String(decoding: ClusterControlRequests.agentsPayload(filterNode: ["worker1"], filterStatus: nil), as: UTF8.self)
                == String(decoding: conn4.payload, as: UTF8.self))
        #expect(String(decoding: ClusterControlRequests.nodesPayload(filterNode: ["worker1"]), as: UTF8.self).hasPrefix(#"{"filter_node": ["worker1"], "offset": 0"#))
        let agents = String(decoding: ClusterControlRequests.agentsPayload(filterNode: [], filterStatus: ["active", "disconnected"]), as: UTF8.self)
        #expect(agents.contains(#""filters": {"status": "active,disconnected", "node_name": "all"}"#))
    }

    // MARK: flows

    @Test func directReply() throws {
        let s = try Setup()
        s.server.start { c in
            let request = try c.expect("get_nodes", String(decoding: ClusterControlRequests.nodesPayload(filterNode: nil), as: UTF8.self))
            try c.send(counter: request.counter, command: "ok", payload: Self.nodesReply)
        }
        let reply = try s.client.execute(command: "get_nodes", payload: ClusterControlRequests.nodesPayload(filterNode: nil))
        #expect(reply == Self.nodesReply)
        #expect(s.server.finish().isEmpty)
    }

    @Test func workerRelayWaitsForControlRes() throws {
        let s = try Setup(timeout: 2, asyncTimeout: 4)
        let clock = s.clock
        s.server.start { c in
            let request = try c.expect("get_health")
            try c.reply(to: request, "ok", LocalClient.relayedReply)
            // The relayed reply is not the result: the client waits for it, now with the asynchronous timeout.
            guard clock.waitForWaiter(deadline: .seconds(4)) != nil else {
                throw FakeLocalServer.Failure(description: "the client did not wait for the relayed result")
            }
            let ack = try c.request("control_res", Self.nodesReply)
            guard ack.name == "ok", ack.payload == Array("Response received".utf8) else {
                throw FakeLocalServer.Failure(description: "control_res answered \(ack.name) \(String(decoding: ack.payload, as: UTF8.self))")
            }
        }
        let reply = try s.client.execute(command: "get_health", payload: Array("null".utf8))
        #expect(reply == Self.nodesReply)
        #expect(s.server.finish().isEmpty)
    }

    @Test func errReplyThrowsTheException() throws {
        let s = try Setup()
        s.server.start { c in
            let request = try c.expect("get_nodes")
            try c.send(counter: request.counter, command: "err", payload: WazuhException(.error, code: 1730).payload)
        }
        do {
            _ = try s.client.execute(command: "get_nodes", payload: ClusterControlRequests.nodesPayload(filterNode: ["nosuchnode"]))
            Issue.record("expected an error")
        } catch let e as WazuhException {
            #expect(e.code == 1730)
            #expect(e.description == "Error 1730 - Node does not exist")
        }
        #expect(s.server.finish().isEmpty)
    }

    @Test func plainTextErrIsError3000() throws {
        let s = try Setup()
        s.server.start { c in
            let request = try c.expect("nosuchcmd")
            try c.reply(to: request, "err", "unknown command 'b'nosuchcmd''")
        }
        #expect(throws: WazuhException.cluster(3000, "unknown command 'b'nosuchcmd''")) {
            try s.client.execute(command: "nosuchcmd", payload: [])
        }
        #expect(s.server.finish().isEmpty)
    }

    @Test func dapiWithLongStringReplaysTheCapture() throws {
        let s = try Setup()
        let result = try ControlFixtures.agentsResultText()
        s.server.start { c in
            let request = try c.expect("dapi")
            try c.reply(to: request, "ok", "Added request to API requests queue")
            let replies = try c.sendString(result)
            let texts = replies.map { "\($0.name) \(String(decoding: $0.payload, as: UTF8.self))" }
            guard replies[0].name == "ok", UInt32(String(decoding: replies[0].payload, as: UTF8.self)) != nil,
                  texts[1] == "ok String updated", texts[2] == "ok Distributed api response received"
            else { throw FakeLocalServer.Failure(description: "unexpected acknowledgements \(texts)") }
        }
        let payload = ClusterControlRequests.agentsPayload(filterNode: ["worker1"], filterStatus: nil)
        let reply = try s.client.execute(command: "dapi", payload: payload)
        #expect(reply == result)
        let agents = try ClusterControlRequests.agentsResult(ClusterControlRequests.decode(reply))
        #expect(agents["totalItems"] == 5)
        #expect(s.server.finish().isEmpty)
    }

    @Test func dapiResultThatIsAnExceptionThrows() throws {
        let s = try Setup()
        s.server.start { c in
            let request = try c.expect("dapi")
            try c.reply(to: request, "ok", "Added request to API requests queue")
            _ = try c.sendString(WazuhException.internal(3021).payload)
        }
        let reply = try s.client.execute(command: "dapi", payload: Array("{}".utf8))
        #expect(throws: WazuhException.internal(3021)) { try ClusterControlRequests.decode(reply) }
        #expect(s.server.finish().isEmpty)
    }

    @Test func dapiErrAndErrorPointersThrow() throws {
        let s = try Setup()
        s.server.start(connections: 2) { c in
            let request = try c.expect("dapi")
            try c.reply(to: request, "ok", "Added request to API requests queue")
            if request.payload == Array("first".utf8) {
                let ack = try c.request("dapi_err", WazuhException.cluster(3022, "worker9").payload)
                guard String(decoding: ack.payload, as: UTF8.self) == "Response received" else { throw FakeLocalServer.Failure(description: "dapi_err ack") }
            } else {
                try c.request("dapi_res", "Error 3020 - Timeout sending request: dapi")
            }
        }
        #expect(throws: WazuhException.cluster(3022, "worker9")) { try s.client.execute(command: "dapi", payload: Array("first".utf8)) }
        #expect(throws: LocalClientError.remoteText("Error 3020 - Timeout sending request: dapi")) {
            try s.client.execute(command: "dapi", payload: Array("second".utf8))
        }
        #expect(s.server.finish().isEmpty)
    }

    @Test func sendsyncResultArrivesAsAnOkRequest() throws {
        let s = try Setup()
        s.server.start { c in
            _ = try c.expect("sendsync")  // a worker sends no direct reply
            let ack = try c.request("ok", #"{"error":0,"data":{"id":"001"}}"#)
            guard String(decoding: ack.payload, as: UTF8.self) == "Sendsync response received" else { throw FakeLocalServer.Failure(description: "ack") }
        }
        let reply = try s.client.execute(command: "sendsync", text: #"{"daemon_name":"authd","message":{}}"#)
        #expect(reply == #"{"error":0,"data":{"id":"001"}}"#)
        #expect(s.server.finish().isEmpty)
    }

    @Test func echoAndKeepAliveWhileWaiting() throws {
        let s = try Setup(timeout: 2, asyncTimeout: 4, keepAlive: 0.25)
        let clock = s.clock
        s.server.start { c in
            let request = try c.expect("get_nodes")
            try c.reply(to: request, "ok", LocalClient.relayedReply)
            let echo = try c.request("echo-m", "ping")
            guard echo.name == "ok-c", echo.payload == Array("ping".utf8) else { throw FakeLocalServer.Failure(description: "echo-m answered \(echo.name)") }
            // Waiting for the result, the client wakes at the keep-alive time (before the 4 s deadline)...
            guard let wait = clock.waitForWaiter(deadline: .milliseconds(250)) else {
                throw FakeLocalServer.Failure(description: "the client did not wait until the keep-alive time")
            }
            // ...sends nothing before it...
            clock.advance(by: .milliseconds(249))
            guard clock.waitForWaiter(after: wait, deadline: .milliseconds(250)) != nil, c.nothingPending() else {
                throw FakeLocalServer.Failure(description: "the client did not keep waiting before the keep-alive time")
            }
            // ...and keeps the connection alive once it is reached, every interval.
            clock.advance(by: .milliseconds(1))
            let keepAlive = try c.expect("echo-c", "keepalive")
            try c.reply(to: keepAlive, "ok-m", "keepalive")
            guard clock.waitForWaiter(deadline: .milliseconds(500)) != nil else {
                throw FakeLocalServer.Failure(description: "the next keep-alive is not one interval later")
            }
            clock.advance(by: .milliseconds(250))
            try c.reply(to: try c.expect("echo-c", "keepalive"), "ok-m", "keepalive")
            try c.request("control_res", Self.nodesReply)
        }
        #expect(try s.client.execute(command: "get_nodes", payload: []) == Self.nodesReply)
        #expect(s.server.finish().isEmpty)
    }

    @Test func unknownServerRequestGetsUnknownCommand() throws {
        let s = try Setup()
        s.server.start { c in
            let request = try c.expect("get_nodes")
            let answer = try c.request("bogus", "x")
            guard answer.name == "err", String(decoding: answer.payload, as: UTF8.self) == "unknown command 'b'bogus''" else {
                throw FakeLocalServer.Failure(description: "bogus answered \(answer.name)")
            }
            try c.send(counter: request.counter, command: "ok", payload: Self.nodesReply)
        }
        #expect(try s.client.execute(command: "get_nodes", payload: []) == Self.nodesReply)
        #expect(s.server.finish().isEmpty)
    }

    // MARK: failures

    /// A fake daemon that reads the request, then says nothing until `release` (or its own guard of 10 s
    /// of real time, so a broken test ends instead of hanging).
    static func silentServer(_ s: Setup, expecting command: String, relayed: Bool = false) -> DispatchSemaphore {
        let release = DispatchSemaphore(value: 0)
        s.server.start { c in
            let request = try c.expect(command)
            if relayed { try c.reply(to: request, "ok", LocalClient.relayedReply) }
            _ = release.wait(timeout: .now() + 10)
        }
        return release
    }

    @Test func timeoutWithoutReply() throws {
        let s = try Setup(timeout: 2)
        let release = Self.silentServer(s, expecting: "get_nodes")
        defer { release.signal() }
        let call = s.startExecute("get_nodes")
        // Waiting for the direct reply until 2 s; just before that, it is still waiting.
        let wait = try #require(s.clock.waitForWaiter(deadline: .seconds(2)))
        s.clock.advance(by: .milliseconds(1999))
        try #require(s.clock.waitForWaiter(after: wait, deadline: .seconds(2)) != nil)
        #expect(!call.isFinished)
        // At the deadline it fails.
        s.clock.advance(by: .milliseconds(1))
        let outcome = try #require(call.wait())
        do {
            _ = try outcome.get()
            Issue.record("expected a timeout")
        } catch let e as LocalClientError {
            #expect(e == .timeout(command: "get_nodes", seconds: 2))
            #expect(e.code == 3020)
            #expect(e.description.hasPrefix("Error 3020 - Timeout sending request: get_nodes"))
        }
        release.signal()
        #expect(s.server.finish().isEmpty)
    }

    @Test func timeoutWaitingForTheRelayedResult() throws {
        let s = try Setup(timeout: 2, asyncTimeout: 0.5)
        let release = Self.silentServer(s, expecting: "get_nodes", relayed: true)
        defer { release.signal() }
        let call = s.startExecute("get_nodes")
        // After the relayed reply the deadline is the asynchronous one, counted from that reply.
        let wait = try #require(s.clock.waitForWaiter(deadline: .milliseconds(500)))
        s.clock.advance(by: .milliseconds(499))
        try #require(s.clock.waitForWaiter(after: wait, deadline: .milliseconds(500)) != nil)
        #expect(!call.isFinished)
        s.clock.advance(by: .milliseconds(1))
        let outcome = try #require(call.wait())
        #expect(throws: LocalClientError.timeout(command: "get_nodes", seconds: 0.5)) { try outcome.get() }
        release.signal()
        #expect(s.server.finish().isEmpty)
    }

    @Test func asyncCommandWithoutDirectReplyWaitsTheAsyncTimeoutToo() throws {
        let s = try Setup(timeout: 1, asyncTimeout: 2)
        let release = Self.silentServer(s, expecting: "dapi")
        defer { release.signal() }
        let call = s.startExecute("dapi", Array("{}".utf8))
        // 4.8.1 keeps waiting for the result of an asynchronous command whose direct reply is late: at the
        // direct deadline (1 s) the wait goes on until 1 s + the asynchronous timeout.
        _ = try #require(s.clock.waitForWaiter(deadline: .seconds(1)))
        s.clock.advance(by: .seconds(1))
        let wait = try #require(s.clock.waitForWaiter(deadline: .seconds(3)))
        #expect(!call.isFinished)
        s.clock.advance(by: .milliseconds(1999))
        try #require(s.clock.waitForWaiter(after: wait, deadline: .seconds(3)) != nil)
        #expect(!call.isFinished)
        s.clock.advance(by: .milliseconds(1))
        let outcome = try #require(call.wait())
        #expect(throws: LocalClientError.timeout(command: "dapi", seconds: 2)) { try outcome.get() }
        release.signal()
        #expect(s.server.finish().isEmpty)
    }

    /// The real clock's wait, without timing it: input ends it, a deadline already reached does not wait.
    @Test func continuousClockWaitsForInputOrTheDeadline() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let clock = ContinuousLocalClock()
        let start = clock.now
        #expect(clock.waitForInput(on: fds[0], until: start) == .deadline)
        #expect(clock.waitForInput(on: fds[0], until: start - .seconds(1)) == .deadline)
        var byte: UInt8 = 7
        try #require(write(fds[1], &byte, 1) == 1)
        #expect(clock.waitForInput(on: fds[0], until: clock.now + .seconds(3600)) == .input)
        #expect(clock.now >= start)
        #expect(clock.offset(of: clock.origin + .seconds(5)) == .seconds(5))
    }

    @Test func closedConnection() throws {
        let s = try Setup()
        s.server.start { c in _ = try c.expect("get_nodes") }
        #expect(throws: LocalClientError.connectionClosed(command: "get_nodes")) { try s.client.execute(command: "get_nodes", payload: []) }
        #expect(s.server.finish().isEmpty)
    }

    @Test func missingSocketIsClusterNotRunning() throws {
        let home = TemporaryDirectory()
        let client = LocalClient(home: home.path)
        do {
            _ = try client.execute(command: "get_nodes", payload: [])
            Issue.record("expected an error")
        } catch let e as LocalClientError {
            #expect(e == .socketMissing(path: home.path + "/queue/cluster/c-internal.sock"))
            #expect(e.code == 3012)
            #expect(e.description.hasPrefix("Error 3012 - Cluster is not running"))
        }
    }

    @Test func staleSocketIsConnectionRefused() throws {
        let home = TemporaryDirectory()
        let path = home.path + "/stale.sock"
        // Bind without listening, then close: the file stays and connecting is refused.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        #expect(throws: LocalClientError.connectionRefused(path: path)) {
            try LocalClient(socketPath: path).execute(command: "get_nodes", payload: [])
        }
    }
}
