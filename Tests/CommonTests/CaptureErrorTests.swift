import Testing
@testable import Common

/// Damaged input: a wrong key, a truncated stream or capture, garbage. Decoding keeps what it can,
/// says where it stopped, and never traps or allocates what a bogus header asks for.
@Suite struct CaptureErrorTests {
    static let wrongKey = try! Fernet(clusterKey: "WrongPeerTestKey0123456789abcdef")

    @Test func wrongKeyStillDecodesHeadersAndWarnsOnce() throws {
        let expected = try CaptureFixtures.expected("session1-fresh-worker.conn1.expected.jsonl")
        let record = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.pcap"), fernet: Self.wrongKey)
        #expect(record.error == nil && record.stops.isEmpty)
        #expect(record.warnings.count == 1)
        #expect(record.warnings.first?.contains("do not decrypt with this key") == true)
        #expect(record.warnings.first?.contains("error 3025") == true)
        try #require(record.messages.count == expected.count)
        for (m, e) in zip(record.messages, expected) {
            #expect(m.counter == e.counter && m.name == e.cmd && m.command.text == e.rawCmd)
            #expect(m.wireLength == e.size && m.wireSHA256 == e.payloadSHA256 && m.offset == e.off)
            #expect(m.payloadState == .encrypted && m.plainLength == nil && m.decryptionError != nil)
        }
        #expect(record.messages[1].replyTo == "hello")
    }

    @Test func wrongKeyOnRawStreamWarnsOnce() throws {
        let record = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.conn1.s2c.bin"), fernet: Self.wrongKey)
        #expect(record.warnings.count == 1 && record.messages.count == 112 && record.stops.isEmpty)
    }

    @Test func truncatedRawStreamKeepsEarlierMessagesAndReportsOffset() throws {
        let bytes = try TestPaths.fixture("session1-fresh-worker.conn1.c2s.bin")
        let expected = try CaptureFixtures.expected("session1-fresh-worker.conn1.expected.jsonl").filter { $0.dir == "c2s" }
        // Cut in the middle of the 11th message's payload.
        let cut = expected[10].off + 20 + 30
        let record = DecodeRecord.decode(Array(bytes.prefix(cut)))
        #expect(record.messages.count == 10)
        for (m, e) in zip(record.messages, expected) { CaptureFixtures.check(m, e, checkDirection: false) }
        let stop = try #require(record.stops.first)
        #expect(record.stops.count == 1)
        #expect(stop.stop.offset == expected[10].off)
        #expect(stop.stop.reason == .wire(.truncated(offset: expected[10].off, needed: 20 + expected[10].size, available: 50)))
        #expect(stop.stop.description.contains("byte offset \(expected[10].off)"))

        // Cut inside a header.
        let inHeader = DecodeRecord.decode(Array(bytes.prefix(expected[3].off + 7)))
        #expect(inHeader.messages.count == 3)
        #expect(inHeader.stops.first?.stop.reason == .wire(.truncated(offset: expected[3].off, needed: 20, available: 7)))
    }

    @Test func truncatedCaptureFileReportsOffsetAndKeepsMessages() throws {
        let bytes = try TestPaths.fixture("session1-fresh-worker.pcap")
        let record = DecodeRecord.decode(Array(bytes.prefix(bytes.count / 2)))
        guard case .truncatedCapture(let offset, _, _)? = record.error else {
            Issue.record("expected a truncated capture, got \(String(describing: record.error))")
            return
        }
        #expect(offset > 24 && offset < bytes.count / 2)
        #expect(record.messages.count > 50 && record.messages.count < 224)
    }

    @Test func hugeHeaderLengthHitsTheMessageLimitWithoutAllocating() throws {
        // counter 1, length 0xFFFFFFF0, command "hello", and a few payload bytes.
        var bytes: [UInt8] = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xF0]
        bytes += try CommandField(name: "hello").bytes + [1, 2, 3]
        let record = DecodeRecord.decode(bytes, format: .raw)
        #expect(record.messages.isEmpty)
        let stop = try #require(record.stops.first)
        #expect(stop.stop.offset == 0)
        #expect(stop.stop.reason == .wire(.payloadTooLarge(length: 0xFFFF_FFF0, limit: WireLimits.maxMessageSize)))
        #expect(stop.stop.description.contains("error 3050"))

        // The same after a good message: the offset is the bad header's.
        let good = try MessageEncoder(fernet: CaptureFixtures.fernet).encode(counter: 7, command: "echo-c", payload: Array("keepalive".utf8))
        let after = DecodeRecord.decode(good + bytes)
        #expect(after.messages.count == 1 && after.messages.first?.payload == Array("keepalive".utf8))
        #expect(after.stops.first?.stop.offset == good.count)
    }

    @Test func tooManyDividedMessagesIsATypedStop() throws {
        var bytes: [UInt8] = []
        for counter in UInt32(1)...11 {
            FrameHeader(counter: counter, length: 1, command: try CommandField(name: "x", position: .fragment)).write(into: &bytes)
            bytes.append(0x41)
        }
        let record = DecodeRecord.decode(bytes, fernet: nil, format: .raw)
        #expect(record.stops.first?.stop.reason == .wire(.tooManyDividedMessages(limit: 10)))
        #expect(record.stops.first?.stop.offset == 10 * 21)
    }

    @Test func unfinishedDividedMessageIsReported() throws {
        let plain = [UInt8](repeating: 0x61, count: 300)
        let frames = try MessageEncoder(fernet: nil, requestChunk: 120).encode(counter: 9, command: "str_upd", payload: plain)
        let whole = DecodeRecord.decode(frames, fernet: nil)
        try #require(whole.messages.count == 1)
        #expect(whole.messages[0].fragments == 3 && whole.messages[0].isDivided)
        #expect(whole.messages[0].payload == plain && whole.stops.isEmpty)
        // Drop the last fragment (its 20-byte header and 100-byte payload).
        let record = DecodeRecord.decode(Array(frames.dropLast(120)), fernet: nil)
        #expect(record.messages.isEmpty)
        #expect(record.stops.first?.stop == StreamStop(offset: 0, reason: .dividedIncomplete(counter: 9, fragments: 2)))
    }

    @Test func randomGarbageNeverTrapsOrHangs() {
        var rng = SplitMix64(seed: 0x5EED)
        for round in 0..<300 {
            let count = Int(rng.next() % 4096)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Some rounds start with capture magics so the capture readers see garbage too.
            switch round % 4 {
            case 1 where count >= 4: bytes.replaceSubrange(0..<4, with: [0xD4, 0xC3, 0xB2, 0xA1])
            case 2 where count >= 12: bytes.replaceSubrange(0..<12, with: [0x0A, 0x0D, 0x0D, 0x0A, 0x1C, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A])
            case 3 where count >= 8: bytes.replaceSubrange(4..<8, with: [0, 0, 0, UInt8(count % 200)])
            default: break
            }
            let record = DecodeRecord.decode(bytes, fernet: round % 2 == 0 ? CaptureFixtures.fernet : nil)
            // Either it ended cleanly or it said why; never both silent and incomplete.
            if record.summary.format == .raw && count > 0 && record.error == nil {
                #expect(!record.stops.isEmpty || !record.messages.isEmpty)
            }
        }
    }

    @Test func garbageStreamReportsATypedError() {
        let bytes: [UInt8] = Array("this is not a cluster stream at all, just text\n".utf8)
        let record = DecodeRecord.decode(bytes)
        #expect(record.messages.isEmpty)
        guard case .wire(let error)? = record.stops.first?.stop.reason else {
            Issue.record("no typed stop")
            return
        }
        // " is " read as the length: 0x20697320 is far above 256 MiB.
        #expect(error == .payloadTooLarge(length: 0x2069_7320, limit: WireLimits.maxMessageSize))
    }
}
