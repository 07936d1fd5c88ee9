import Testing
@testable import Common

/// The real Wazuh 4.8.1 captures decode to exactly the messages the fixtures list.
@Suite struct CaptureFixtureTests {
    static let session1 = "session1-fresh-worker.conn1.expected.jsonl"

    /// All messages in capture (time) order, matching the expected file line by line.
    private func checkSession1Capture(_ file: String) throws {
        let expected = try CaptureFixtures.expected(Self.session1)
        let record = DecodeRecord.decode(try TestPaths.fixture(file))
        #expect(record.error == nil)
        #expect(record.stops.isEmpty)
        #expect(record.warnings.isEmpty)
        #expect(record.summary.connections == 1)
        try #require(record.messages.count == expected.count)
        for (message, line) in zip(record.messages, expected) { CaptureFixtures.check(message, line) }
        let times = record.messages.compactMap(\.time)
        #expect(times.count == expected.count)
        #expect(times == times.sorted())
        #expect(record.messages.first?.source == "127.0.0.1:43246")
        #expect(record.messages.first?.destination == "127.0.0.1:1516")
        #expect(record.messages.first.map { $0.time! > 1_795_721_978 && $0.time! < 1_795_721_979 } == true)
    }

    @Test func session1PcapDecodesToExpectedMessages() throws {
        try checkSession1Capture("session1-fresh-worker.pcap")
    }

    @Test func session1PcapngDecodesToExpectedMessages() throws {
        try checkSession1Capture("session1-fresh-worker.pcapng")
    }

    @Test func session1PcapAndPcapngAgreeOnTimes() throws {
        let pcap = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.pcap"))
        let pcapng = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.pcapng"))
        try #require(pcap.messages.count == pcapng.messages.count)
        for (a, b) in zip(pcap.messages, pcapng.messages) {
            #expect(abs(a.time! - b.time!) < 1e-5)
        }
    }

    @Test(arguments: ["c2s", "s2c"])
    func session1RawStreamDecodesToExpectedMessages(direction: String) throws {
        let expected = try CaptureFixtures.expected(Self.session1).filter { $0.dir == direction }
        let record = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.conn1.\(direction).bin"))
        #expect(record.summary.format == .raw)
        #expect(record.error == nil && record.stops.isEmpty && record.warnings.isEmpty)
        try #require(record.messages.count == expected.count)
        for (message, line) in zip(record.messages, expected) {
            CaptureFixtures.check(message, line, checkDirection: false)
            #expect(message.time == nil && message.source == "-" && message.destination == "-")
            #expect(message.replyTo == nil)
        }
    }

    @Test func session1RepliesNameTheirRequests() throws {
        let record = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.pcap"))
        let hello = try #require(record.messages.first)
        let reply = try #require(record.messages.dropFirst().first)
        #expect(hello.name == "hello" && hello.replyTo == nil)
        #expect(reply.name == "ok" && reply.replyTo == "hello" && reply.counter == hello.counter)
        // Every message is either a request or the reply to one in this session.
        #expect(record.messages.filter { $0.replyTo != nil }.count == record.messages.count / 2)
        #expect(record.messages.allSatisfy { $0.replyTo == nil || ["ok", "err", "ok-m"].contains($0.name) })
        #expect(record.messages.contains { $0.name == "ok-m" && $0.replyTo == "echo-c" })
    }

    @Test func session3LocalSocketPcapDecodesWithoutKey() throws {
        let record = DecodeRecord.decode(try TestPaths.fixture("session3-local-cluster-control.conn1-4.unix-as-tcp.pcap"),
                                         fernet: nil, port: 1517)
        #expect(record.error == nil && record.stops.isEmpty && record.warnings.isEmpty)
        #expect(record.summary.connections == 4)
        var total = 0
        for k in 1...4 {
            let expected = try CaptureFixtures.expected("session3-local-cluster-control.conn\(k).expected.jsonl")
            let messages = record.messages.filter { $0.connection == k }
            try #require(messages.count == expected.count)
            for (message, line) in zip(messages, expected) {
                CaptureFixtures.check(message, line)
                #expect(message.payloadState == .plain)
            }
            total += expected.count
        }
        #expect(record.messages.count == total)
        // Nothing on the default port.
        #expect(DecodeRecord.decode(try TestPaths.fixture("session3-local-cluster-control.conn1-4.unix-as-tcp.pcap"),
                                    fernet: nil).messages.isEmpty)
    }

    @Test(arguments: 1...4)
    func session3RawStreamsDecodeWithoutKey(connection k: Int) throws {
        let expected = try CaptureFixtures.expected("session3-local-cluster-control.conn\(k).expected.jsonl")
        for direction in ["c2s", "s2c"] {
            let lines = expected.filter { $0.dir == direction }
            let record = DecodeRecord.decode(try TestPaths.fixture("session3-local-cluster-control.conn\(k).\(direction).bin"),
                                             fernet: nil)
            #expect(record.error == nil && record.stops.isEmpty)
            try #require(record.messages.count == lines.count)
            for (message, line) in zip(record.messages, lines) { CaptureFixtures.check(message, line, checkDirection: false) }
        }
    }

    @Test func withoutKeyPayloadsStayEncryptedAndHeadersDecode() throws {
        let expected = try CaptureFixtures.expected(Self.session1)
        let record = DecodeRecord.decode(try TestPaths.fixture("session1-fresh-worker.pcap"), fernet: nil)
        #expect(record.warnings.isEmpty && record.stops.isEmpty)
        try #require(record.messages.count == expected.count)
        for (m, e) in zip(record.messages, expected) {
            #expect(m.counter == e.counter && m.name == e.cmd && m.wireLength == e.size && m.wireSHA256 == e.payloadSHA256)
            #expect(m.payloadState == .encrypted && m.plainLength == nil && m.plainSHA256 == nil)
            #expect(m.payload.starts(with: Array("gAAAAA".utf8)))
        }
    }
}
