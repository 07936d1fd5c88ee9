import Foundation
import Testing
@testable import Common

/// `frame-dump proxy` forwards bytes unchanged and prints the decode.
@Suite struct FrameDumpProxyTests {
    @Test(.timeLimit(.minutes(1))) func proxyForwardsUnchangedAndPrintsTheDecode() throws {
        let (listener, serverPort) = try TestSocket.listenLoopback()
        defer { listener.closeSocket() }
        let proxy = try FrameDumpProcess(["proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:\(serverPort)",
                                          "--key", fixtureKey, "--json"])
        defer { proxy.kill() }
        #expect(proxy.wait { $0.stderr.contains("listening on") })
        let announced = proxy.stderr.split(separator: "\n").first { $0.contains("listening on") } ?? ""
        let port = try #require(announced.split(separator: ",").first?.split(separator: ":").last.flatMap { UInt16($0) })

        let encoder = MessageEncoder(fernet: CaptureFixtures.fernet)
        let request = try encoder.encode(counter: 0x1234_ABCD, command: "echo-c", payload: Array("keepalive".utf8))
        let reply = try encoder.encode(counter: 0x1234_ABCD, command: "ok-m", payload: Array("ok".utf8))

        let client = try TestSocket.connectLoopback(port: port)
        defer { client.closeSocket() }
        try client.sendAll(Array(request.prefix(7)))  // a header split across segments, to be reassembled
        usleep(50_000)
        try client.sendAll(Array(request.dropFirst(7)))
        let server = try listener.acceptOne()
        defer { server.closeSocket() }
        #expect(server.readBytes(request.count) == request)
        try server.sendAll(reply)
        #expect(client.readBytes(reply.count) == reply)

        #expect(proxy.wait { $0.stdout.split(separator: "\n").count >= 2 })
        let lines = proxy.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 2)
        let sent = try JSONParser.parse(lines[0])
        #expect(sent["command"]?.stringValue == "echo-c")
        #expect(sent["counter"]?.intValue == 0x1234_ABCD)
        #expect(sent["payload"]?.stringValue == "keepalive")
        #expect(sent["length"]?.intValue == Int64(request.count - 20))
        #expect(sent["dst"]?.stringValue == "127.0.0.1:\(serverPort)")
        let answer = try JSONParser.parse(lines[1])
        #expect(answer["command"]?.stringValue == "ok-m")
        #expect(answer["reply_to"]?.stringValue == "echo-c")
        #expect(answer["payload"]?.stringValue == "ok")
        #expect(answer["src"]?.stringValue == "127.0.0.1:\(serverPort)")

        // A half-sent frame is reported when the client goes away; the proxy keeps running.
        try client.sendAll(Array(request.prefix(30)))
        client.closeSocket()
        #expect(proxy.wait { $0.stderr.contains("decoding stopped at byte offset \(request.count)") })
        #expect(proxy.process.isRunning)
    }
}
