import Testing
@testable import Common

/// TCP reassembly: captures whose segments come out of order, twice, overlapping, across sequence
/// wraparound or over other link layers decode to the same messages as the original.
@Suite struct CaptureReassemblyTests {
    static let pcap = "session1-fresh-worker.pcap"

    /// (counter, command, direction, offset, plain hash) of every message, per direction in stream order.
    private func signature(_ record: DecodeRecord) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for m in record.messages {
            out[m.direction?.rawValue ?? "-", default: []].append("\(m.counter) \(m.name) \(m.offset) \(m.wireLength) \(m.plainSHA256 ?? "")")
        }
        return out
    }

    private func reference() throws -> [String: [String]] {
        let expected = try CaptureFixtures.expected("session1-fresh-worker.conn1.expected.jsonl")
        var out: [String: [String]] = [:]
        for e in expected { out[e.dir, default: []].append("\(e.counter) \(e.cmd) \(e.off) \(e.size) \(e.plainSHA256)") }
        return out
    }

    private func checkClean(_ record: DecodeRecord, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(record.error == nil, sourceLocation: sourceLocation)
        #expect(record.stops.isEmpty, "\(record.stops)", sourceLocation: sourceLocation)
        #expect(signature(record) == (try reference()), sourceLocation: sourceLocation)
    }

    @Test func outOfOrderRetransmittedAndOverlappingSegmentsDecodeIdentically() throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let data = Array(packets.dropFirst(3))
        // Reverse every run of three packets after the handshake: later segments arrive first.
        var shuffled = Array(packets.prefix(3))
        for start in stride(from: 0, to: data.count, by: 3) {
            shuffled += data[start..<min(start + 3, data.count)].reversed()
        }
        // Retransmit every fourth segment six packets later, and add a segment that repeats all but
        // the first 5 bytes of every fifth one (an overlap that brings nothing new).
        var mangled: [SyntheticCapture.Packet] = []
        var retransmissions: [(due: Int, packet: SyntheticCapture.Packet)] = []
        for (n, p) in shuffled.enumerated() {
            mangled.append(p)
            if n >= 3, n % 5 == 0, p.segment.payload.count > 10 {
                var overlap = p
                overlap.segment.sequence = p.segment.sequence &+ 5
                overlap.segment.payload = Array(p.segment.payload.dropFirst(5))
                mangled.append(overlap)
            }
            if n >= 3, n % 4 == 0, !p.segment.payload.isEmpty { retransmissions.append((n + 6, p)) }
            while let first = retransmissions.first, first.due <= n {
                mangled.append(first.packet)
                retransmissions.removeFirst()
            }
        }
        mangled += retransmissions.map(\.packet)
        #expect(mangled.count > packets.count + 20)
        let record = DecodeRecord.decode(SyntheticCapture.pcap(mangled))
        try checkClean(record)
        // A message's time is that of the packet completing it, so time may differ; the order per
        // direction may not.
        #expect(record.messages.count == 224)
    }

    @Test func duplicatedCaptureOfEveryPacketDecodesOnce() throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let doubled = packets.flatMap { [$0, $0] }
        try checkClean(DecodeRecord.decode(SyntheticCapture.pcap(doubled)))
    }

    @Test func sequenceNumbersWrappingAroundDecodeIdentically() throws {
        var packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        // Move both initial sequence numbers to just below 2^32 so that both streams wrap early.
        let isn = packets.prefix(2).map(\.segment.sequence)
        for i in packets.indices {
            let fromClient = packets[i].segment.source.port != 1516
            let shift = (UInt32.max - 300) &- (fromClient ? isn[0] : isn[1])
            packets[i].segment.sequence = packets[i].segment.sequence &+ shift
        }
        try checkClean(DecodeRecord.decode(SyntheticCapture.pcap(packets)))
    }

    @Test func captureStartingAfterTheHandshakeStartsAtFirstSeenSequence() throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let noSYN = packets.filter { !$0.segment.syn }
        #expect(noSYN.count == packets.count - 2)
        try checkClean(DecodeRecord.decode(SyntheticCapture.pcap(noSYN)))
    }

    @Test func captureStartingInsideAFrameSkipsToTheFirstHeader() throws {
        var packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap)).filter { !$0.segment.syn }
        // The capture misses the first 50 bytes of each direction's first data segment.
        for fromClient in [true, false] {
            let i = try #require(packets.firstIndex { ($0.segment.source.port != 1516) == fromClient && !$0.segment.payload.isEmpty })
            packets[i].segment.sequence &+= 50
            packets[i].segment.payload.removeFirst(50)
            // Pure acks of that direction seen before it would start the stream earlier: drop them.
            packets = packets.enumerated().filter { n, p in
                n >= i || (p.segment.source.port != 1516) != fromClient || !p.segment.payload.isEmpty
            }.map(\.element)
        }
        let record = DecodeRecord.decode(SyntheticCapture.pcap(packets))
        #expect(record.stops.isEmpty, "\(record.stops)")
        let expected = try CaptureFixtures.expected("session1-fresh-worker.conn1.expected.jsonl")
        for direction in [DecodedMessage.Direction.clientToServer, .serverToClient] {
            let lines = expected.filter { $0.dir == direction.rawValue }.dropFirst()
            let messages = record.messages(direction: direction)
            try #require(messages.count == lines.count)
            for (m, e) in zip(messages, lines) {
                #expect(m.counter == e.counter && m.name == e.cmd && m.plainSHA256 == e.plainSHA256)
                #expect(m.offset == e.off - 50)
            }
        }
        #expect(record.warnings.filter { $0.contains("skipped 90 bytes to the first frame header") }.count == 2)
    }

    @Test func frameSyncFindsHeadersOnlyWhereTheyChain() throws {
        let encoder = MessageEncoder(fernet: CaptureFixtures.fernet)
        let frames = try encoder.encode(counter: 1, command: "syn_i_w_m_p", payload: [])
            + encoder.encode(counter: 2, command: "ok ", payload: Array("x".utf8))
        let junk: [UInt8] = Array("AAAA ok ---------xyz".utf8) + [0, 0, 0, 5] + Array("hello ------".utf8)
        let bytes = junk + frames
        #expect(FrameSync.firstHeader(in: bytes, from: 0, maxPayload: WireLimits.maxMessageSize) == .found(junk.count))
        // The second frame alone cannot be confirmed until the stream ends.
        let second = Array(frames[120...])
        #expect(FrameSync.firstHeader(in: second, from: 0, maxPayload: WireLimits.maxMessageSize) == .needMore(0))
        #expect(FrameSync.firstHeader(in: second, from: 0, maxPayload: WireLimits.maxMessageSize, atEnd: true) == .found(0))
    }

    @Test(arguments: [(UInt32(0), false), (1, false), (101, false), (228, false), (229, true), (101, true),
                      (113, false), (276, true), (0, true)])
    func everyLinkLayerDecodesIdentically(linkType: UInt32, v6: Bool) throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let record = DecodeRecord.decode(SyntheticCapture.pcap(packets, linkType: linkType, v6: v6))
        try checkClean(record)
        if v6 { #expect(record.messages.first?.source == "[::ffff:7f00:1]:43246") }
    }

    @Test(arguments: [(false, false), (true, false), (true, true), (false, true)])
    func pcapBothByteOrdersAndResolutions(bigEndian: Bool, nano: Bool) throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let record = DecodeRecord.decode(SyntheticCapture.pcap(packets, bigEndian: bigEndian, nano: nano))
        try checkClean(record)
        #expect(abs(record.messages[0].time! - packets[3].time) < 1e-6)
    }

    @Test(arguments: [(true, UInt8(9)), (false, 9), (true, 6), (false, 3)])
    func pcapngBothByteOrdersAndTimestampResolutions(bigEndian: Bool, resolution: UInt8) throws {
        let packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture("session1-fresh-worker.pcapng"))
        let record = DecodeRecord.decode(SyntheticCapture.pcapng(packets, linkType: 1, bigEndian: bigEndian, resolution: resolution))
        try checkClean(record)
        let precision = resolution >= 6 ? 1e-5 : 2e-3
        #expect(abs(record.messages[0].time! - packets[3].time) < precision)
    }

    @Test func missingSegmentIsReportedAtItsOffset() throws {
        var packets = try SyntheticCapture.segments(ofCapture: try TestPaths.fixture(Self.pcap))
        let lost = try #require(packets.indices.first { $0 > 40 && packets[$0].segment.source.port == 1516 && !packets[$0].segment.payload.isEmpty })
        let lostSequence = packets[lost].segment.sequence
        packets.remove(at: lost)
        let record = DecodeRecord.decode(SyntheticCapture.pcap(packets))
        let stop = try #require(record.stops.first)
        #expect(record.stops.count == 1)
        #expect(stop.stream == "127.0.0.1:1516 → 127.0.0.1:43246")
        guard case .missingSegments(let missing) = stop.stop.reason else { Issue.record("\(stop.stop)"); return }
        #expect(missing > 0)
        let isn = packets.first { $0.segment.syn && $0.segment.source.port == 1516 }!.segment.sequence
        #expect(stop.stop.offset == Int(lostSequence &- isn &- 1))
        // The other direction and everything before the hole still decoded.
        #expect(record.messages(direction: .clientToServer).count == 112)
        #expect(record.messages(direction: .serverToClient).count > 10)
    }

    @Test func reassemblerUnit() throws {
        var r = TCPStreamReassembler()
        #expect(try r.accept(sequence: 0xFFFF_FFFE, syn: true, fin: false, payload: []) == [])
        #expect(try r.accept(sequence: 3, syn: false, fin: false, payload: [4, 5]) == [])  // after a hole, past the wrap
        #expect(r.gap?.offset == 0 && r.gap?.missing == 4)
        #expect(try r.accept(sequence: 0xFFFF_FFFF, syn: false, fin: false, payload: [0, 1]) == [0, 1])
        #expect(try r.accept(sequence: 0xFFFF_FFFF, syn: false, fin: false, payload: [0, 1]) == [])  // retransmission
        #expect(try r.accept(sequence: 0, syn: false, fin: false, payload: [1, 2, 3]) == [2, 3, 4, 5])  // overlap fills the hole
        #expect(r.gap == nil && r.delivered == 6)
        #expect(try r.accept(sequence: 4, syn: false, fin: true, payload: [5, 6]) == [6])
        #expect(r.closed)

        var small = TCPStreamReassembler(maxPendingBytes: 10)
        _ = try small.accept(sequence: 100, syn: false, fin: false, payload: [])
        #expect(throws: TCPStreamReassembler.Failure.self) {
            _ = try small.accept(sequence: 200, syn: false, fin: false, payload: [UInt8](repeating: 1, count: 11))
        }
    }
}
