import NIOCore
import NIOEmbedded
import Testing
@testable import Common

@Suite struct RequestTableTests {
    @Test func countersIncrementAndResponsesMatch() {
        var t = RequestTable<String>(start: UInt32.max)
        let a = t.register("a")
        #expect(a == 0)  // wraps mod 2^32
        let b = t.register("b")
        #expect(b == 1)
        if case .response(let w) = t.classify(1) { #expect(w == "b") } else { Issue.record("expected a response") }
        if case .request = t.classify(1) {} else { Issue.record("a second message with that counter is a request") }
        if case .request = t.classify(77) {} else { Issue.record("unknown counters are requests") }
    }

    /// A response arriving after its request timed out is dropped, not taken for a new request.
    @Test func lateResponsesAreDropped() {
        var t = RequestTable<String>(start: 10)
        let c = t.register("waiter")
        #expect(t.timeOut(c) == "waiter")
        #expect(t.timeOut(c) == nil)
        if case .lateResponse = t.classify(c) {} else { Issue.record("expected a late response") }
        if case .request = t.classify(c) {} else { Issue.record("the tombstone is consumed") }
    }

    @Test func drainReturnsLiveWaiters() {
        var t = RequestTable<Int>(start: 0)
        _ = t.register(1)
        let c = t.register(2)
        _ = t.timeOut(c)
        #expect(t.drain() == [1])
        #expect(t.pendingCount == 0)
    }
}

@Suite struct PayloadDeadlineTests {
    /// A header whose payload does not complete within the deadline closes the channel (4.14.7).
    @Test func incompletePayloadClosesAfterDeadline() throws {
        let loop = EmbeddedEventLoop()
        let ch = EmbeddedChannel(loop: loop)
        try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder(fernet: nil, payloadDeadline: .seconds(30))))
        try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var buf = ch.allocator.buffer(capacity: 0)
        buf.writeBytes(FrameHeader(counter: 1, length: 100, command: try CommandField(name: "hello")).bytes)
        buf.writeBytes([UInt8](repeating: 0x41, count: 10))
        try ch.writeInbound(buf)
        loop.advanceTime(by: .seconds(29))
        #expect(ch.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!ch.isActive)
    }

    @Test func completedPayloadCancelsTheDeadline() throws {
        let loop = EmbeddedEventLoop()
        let ch = EmbeddedChannel(loop: loop)
        try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder(fernet: nil, payloadDeadline: .seconds(30))))
        try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let frame = try MessageEncoder(fernet: nil).encode(counter: 1, command: "echo", payload: Array("hi".utf8))
        var first = ch.allocator.buffer(capacity: 0)
        first.writeBytes(frame.prefix(21))
        try ch.writeInbound(first)
        loop.advanceTime(by: .seconds(10))
        var rest = ch.allocator.buffer(capacity: 0)
        rest.writeBytes(frame.dropFirst(21))
        try ch.writeInbound(rest)
        #expect(try ch.readInbound(as: WireMessage.self)?.payload == Array("hi".utf8))
        loop.advanceTime(by: .seconds(60))
        #expect(ch.isActive)
        _ = try ch.finish()
    }
}
