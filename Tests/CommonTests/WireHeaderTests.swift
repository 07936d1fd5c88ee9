import Foundation
import Testing
@testable import Common

@Suite struct CommandFieldTests {
    @Test(arguments: [
        ("ok", "ok ---------"), ("err", "err --------"), ("hello", "hello ------"), ("echo-c", "echo-c -----"),
        ("syn_i_w_m_p", "syn_i_w_m_p "), ("ok ", "ok  --------"), ("ok-m ", "ok-m  ------"), ("sendsync", "sendsync ---"),
    ])
    func padding(name: String, field: String) throws {
        let f = try CommandField(name: name)
        #expect(f.text == field)
        #expect(f.name == name.trimmingCharacters(in: .whitespaces))
        #expect(!f.isDivided)
    }

    @Test func dividedFlags() throws {
        #expect(try CommandField(name: "syn_i_w_m_p", position: .fragment).text == "syn_i_w_m_pd")
        #expect(try CommandField(name: "syn_i_w_m_p", position: .lastFragment).text == "syn_i_w_m_p-")
        #expect(try CommandField(name: "ok", position: .fragment).text == "ok --------d")
        #expect(try CommandField(name: "ok", position: .fragment).isDivided)
        #expect(try !CommandField(name: "ok", position: .lastFragment).isDivided)
    }

    @Test func nameLimits() {
        #expect(throws: WireError.commandTooLong(name: "sendsync_err", bytes: 12)) { try CommandField(name: "sendsync_err") }
        #expect(throws: WireError.invalidCommandName("")) { try CommandField(name: "") }
        #expect(throws: WireError.invalidCommandName("a b")) { try CommandField(name: "a b") }
        let message = WireError.commandTooLong(name: "sendsync_err", bytes: 12).description
        #expect(message.contains("11"))
    }

    @Test func decodingCutsAtFirstSpaceAndKeepsDashes() {
        let f = CommandField(raw: Array("echo-c -----".utf8))
        #expect(f.name == "echo-c")
        let odd = CommandField(raw: Array("ok  -------x".utf8))
        #expect(odd.name == "ok")
        #expect(!odd.isDivided)
    }
}

@Suite struct FrameHeaderTests {
    @Test func workedExampleFromTheSpec() throws {
        let h = FrameHeader(counter: 0x1234ABCD, length: 120, command: try CommandField(name: "hello"))
        #expect(h.bytes == [0x12, 0x34, 0xAB, 0xCD, 0, 0, 0, 0x78] + Array("hello ------".utf8))
        let parsed = FrameHeader(parsing: h.bytes, at: 0)
        #expect(parsed == h)
    }

    /// The fixture's hello/ok and echo-c/ok-m exchanges: our encoder builds the same frames, byte for
    /// byte, except for the Fernet token (random IV and timestamp), whose length must match too.
    @Test func fixtureFramesAreReproduced() throws {
        let c2s = try TestPaths.fixture("session1-fresh-worker.conn1.c2s.bin")
        let s2c = try TestPaths.fixture("session1-fresh-worker.conn1.s2c.bin")
        let fernet = try Fernet(clusterKey: fixtureKey)
        let encoder = MessageEncoder(fernet: fernet)

        func messages(_ bytes: [UInt8]) throws -> [(header: FrameHeader, raw: [UInt8], plain: [UInt8])] {
            var out: [(FrameHeader, [UInt8], [UInt8])] = []
            var offset = 0
            while offset < bytes.count {
                let parsed = try bytes.withUnsafeBytes { raw in
                    try FrameParser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
                guard let (frame, consumed) = parsed else { break }
                out.append((frame.header, Array(bytes[offset..<offset + consumed]), try fernet.decrypt(frame.payload)))
                offset += consumed
            }
            return out
        }
        let sent = try messages(c2s), received = try messages(s2c)
        var checked = 0
        for (request, command) in [("hello", "ok"), ("echo-c", "ok-m ")] {
            let req = try #require(sent.first { $0.header.command.name == request })
            let reply = try #require(received.first { $0.header.counter == req.header.counter })
            for (original, name) in [(req, request), (reply, command)] {
                let rebuilt = try encoder.encode(counter: original.header.counter, command: name, payload: original.plain)
                #expect(rebuilt.count == original.raw.count)
                #expect(Array(rebuilt.prefix(20)) == Array(original.raw.prefix(20)), "header of \(name)")
                let token = Array(rebuilt.dropFirst(20))
                #expect(try fernet.decrypt(token) == original.plain)
                checked += 1
            }
        }
        #expect(checked == 4)
    }
}
