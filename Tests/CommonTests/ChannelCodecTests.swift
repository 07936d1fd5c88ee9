import NIOCore
import NIOEmbedded
import Testing
@testable import Common

/// The NIO decoder/encoder pair on an `EmbeddedChannel`.
@Suite struct ChannelCodecTests {
    func channel(fernet: Fernet?) throws -> EmbeddedChannel {
        let ch = EmbeddedChannel()
        try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder(fernet: fernet)))
        try ch.pipeline.syncOperations.addHandler(MessageToByteHandler(ClusterFrameEncoder(fernet: fernet)))
        return ch
    }

    func bytes(_ messages: [OutboundMessage], fernet: Fernet?) throws -> [UInt8] {
        var out: [UInt8] = []
        for m in messages { try MessageEncoder(fernet: fernet).encode(counter: m.counter, command: m.command, payload: m.payload, into: &out) }
        return out
    }

    @Test(arguments: [true, false])
    func oneByteAtATime(encrypted: Bool) throws {
        let fernet: Fernet? = encrypted ? try Fernet(clusterKey: fixtureKey) : nil
        let ch = try channel(fernet: fernet)
        let sent = [OutboundMessage(counter: 10, command: "hello", text: "worker1 wazuh worker 4.8.1"),
                    OutboundMessage(counter: 11, command: "echo-c", text: "keepalive"),
                    OutboundMessage(counter: 12, command: "syn_i_w_m_p", payload: [])]
        for b in try bytes(sent, fernet: fernet) {
            var buf = ch.allocator.buffer(capacity: 1)
            buf.writeInteger(b)
            try ch.writeInbound(buf)
        }
        var got: [WireMessage] = []
        while let m = try ch.readInbound(as: WireMessage.self) { got.append(m) }
        #expect(got.map(\.counter) == [10, 11, 12])
        #expect(got.map(\.name) == ["hello", "echo-c", "syn_i_w_m_p"])
        #expect(got.map(\.payload) == sent.map(\.payload))
        _ = try ch.finish()
    }

    @Test func severalMessagesInOneRead() throws {
        let fernet = try Fernet(clusterKey: fixtureKey)
        let ch = try channel(fernet: fernet)
        let big = [UInt8](repeating: 0x5A, count: WireLimits.requestChunk * 2 + 100)
        let sent = [OutboundMessage(counter: 1, command: "ok", text: "a"),
                    OutboundMessage(counter: 2, command: "str_upd", payload: big),
                    OutboundMessage(counter: 3, command: "err", text: "b")]
        var buf = ch.allocator.buffer(capacity: 0)
        buf.writeBytes(try bytes(sent, fernet: fernet))
        try ch.writeInbound(buf)
        var got: [WireMessage] = []
        while let m = try ch.readInbound(as: WireMessage.self) { got.append(m) }
        #expect(got.map(\.counter) == [1, 2, 3])
        #expect(got[1].payload == big)
        #expect(got[1].fragments == 3)
        _ = try ch.finish()
    }

    /// Payloads over `defaultDirectPayloadThreshold` are gathered outside NIO's buffer as they arrive: pieces of
    /// any size, the end of one frame and the start of the next in one read, and several large frames of
    /// one divided message all come out as sent.
    @Test(arguments: [977, 65_536, 300_000])
    func largePayloadsInPiecesOfAnySize(piece: Int) throws {
        let fernet = try Fernet(clusterKey: fixtureKey)
        let ch = try channel(fernet: fernet)
        var rng = SystemRandomNumberGenerator()
        let big = (0..<(WireLimits.requestChunk + 200_000)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let mid = [UInt8](repeating: 0x41, count: ClusterFrameDecoder.defaultDirectPayloadThreshold + 1)
        let sent = [OutboundMessage(counter: 1, command: "str_upd", payload: big),
                    OutboundMessage(counter: 2, command: "ok", text: "small"),
                    OutboundMessage(counter: 3, command: "str_upd", payload: mid)]
        let wire = try bytes(sent, fernet: fernet)
        var offset = 0
        while offset < wire.count {
            // Uneven reads: the piece size varies, so frame boundaries fall anywhere inside a read.
            let n = min(wire.count - offset, piece + offset % 7)
            var buf = ch.allocator.buffer(capacity: n)
            buf.writeBytes(wire[offset..<offset + n])
            try ch.writeInbound(buf)
            offset += n
        }
        var got: [WireMessage] = []
        while let m = try ch.readInbound(as: WireMessage.self) { got.append(m) }
        #expect(got.map(\.counter) == [1, 2, 3])
        #expect(got[0].payload == big)
        #expect(got[0].fragments == 2)
        #expect(got[1].payload == Array("small".utf8))
        #expect(got[2].payload == mid)
        _ = try ch.finish()
    }

    @Test func encoderWritesTheSameBytesAsMessageEncoder() throws {
        let ch = try channel(fernet: nil)
        try ch.writeOutbound(OutboundMessage(counter: 0x01020304, command: "get_nodes", text: "{}"))
        let out = try #require(try ch.readOutbound(as: ByteBuffer.self))
        #expect(Array(out.readableBytesView) == [1, 2, 3, 4, 0, 0, 0, 2] + Array("get_nodes --{}".utf8))
        _ = try ch.finish()
    }

    @Test func oversizedLengthClosesWithTypedError() throws {
        let ch = try channel(fernet: nil)
        var buf = ch.allocator.buffer(capacity: 20)
        buf.writeBytes(FrameHeader(counter: 1, length: 0xFFFF_FFFF, command: try CommandField(name: "hello")).bytes)
        #expect(throws: WireError.payloadTooLarge(length: 0xFFFF_FFFF, limit: WireLimits.maxMessageSize)) {
            try ch.writeInbound(buf)
        }
    }

    @Test func wrongKeyIsATypedError() throws {
        let ch = try channel(fernet: try Fernet(clusterKey: "AnotherKeyAnotherKeyAnotherKey12"))
        var buf = ch.allocator.buffer(capacity: 0)
        buf.writeBytes(try bytes([OutboundMessage(counter: 1, command: "hello", text: "x")], fernet: try Fernet(clusterKey: fixtureKey)))
        #expect(throws: WireError.self) { try ch.writeInbound(buf) }
    }
}
