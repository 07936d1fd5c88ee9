import Foundation
import Testing
@testable import Common

/// Division and reassembly (PROTOCOL.md §1.4) and the parser's limits (§1.8).
@Suite struct WireDivisionTests {
    /// Feeds `stream` to a parser + decoder in chunks chosen by `g`, the way TCP might deliver it.
    static func decodeChunked<G: RandomNumberGenerator>(_ stream: [UInt8], fernet: Fernet?, using g: inout G, maxChunk: Int) throws -> [WireMessage] {
        var decoder = MessageDecoder(fernet: fernet)
        var buffer: [UInt8] = []
        var out: [WireMessage] = []
        var offset = 0
        while offset < stream.count {
            let n = min(stream.count - offset, Int.random(in: 1...maxChunk, using: &g))
            buffer.append(contentsOf: stream[offset..<offset + n])
            offset += n
            while true {
                let parsed = try buffer.withUnsafeBytes { try FrameParser.parse($0) }
                guard let (frame, consumed) = parsed else { break }
                buffer.removeFirst(consumed)
                if let m = try decoder.accept(frame) { out.append(m) }
            }
        }
        #expect(buffer.isEmpty)
        return out
    }

    @Test func frameLayoutOfADividedMessage() throws {
        let fernet = try Fernet(clusterKey: fixtureKey)
        let plain = [UInt8](repeating: 0x41, count: WireLimits.requestChunk + 1)
        let bytes = try MessageEncoder(fernet: fernet).encode(counter: 7, command: "syn_i_w_m_p", payload: plain)
        let tokenLength = Fernet.tokenLength(plaintextLength: plain.count)
        let piece = WireLimits.requestChunk - 20
        let frames = (tokenLength + piece - 1) / piece
        #expect(bytes.count == tokenLength + frames * 20)
        var offset = 0
        for i in 0..<frames {
            let h = FrameHeader(parsing: bytes, at: offset)
            #expect(h.counter == 7)
            let last = i == frames - 1
            #expect(h.command.text == (last ? "syn_i_w_m_p-" : "syn_i_w_m_pd"))
            #expect(Int(h.length) == (last ? tokenLength - piece * (frames - 1) : piece))
            #expect(last || Int(h.length) + 20 == WireLimits.requestChunk)
            offset += 20 + Int(h.length)
        }
    }

    @Test func exactlyRequestChunkIsNotDivided() throws {
        // Division is decided on the plaintext: a 5 MiB plaintext is one frame larger than 5 MiB.
        let plain = [UInt8](repeating: 1, count: WireLimits.requestChunk)
        let fernet = try Fernet(clusterKey: fixtureKey)
        let bytes = try MessageEncoder(fernet: fernet).encode(counter: 1, command: "file_upd", payload: plain)
        let h = FrameHeader(parsing: bytes, at: 0)
        #expect(!h.command.isDivided)
        #expect(Int(h.length) == bytes.count - 20)
        #expect(bytes.count > WireLimits.requestChunk)
        var g = SplitMix64(seed: 3)
        let back = try Self.decodeChunked(bytes, fernet: fernet, using: &g, maxChunk: 1 << 20)
        #expect(back.map(\.payload) == [plain])
    }

    /// Property: random payloads from 0 bytes to 12 MiB survive build → frames → any chunking →
    /// reassembly, with and without encryption, interleaved with small messages of other counters.
    @Test(arguments: [false, true])
    func roundTripProperty(encrypted: Bool) throws {
        let seed = UInt64(encrypted ? 0xE1 : 0xE0)
        var g = SplitMix64(seed: seed)
        let fernet: Fernet? = encrypted ? try Fernet(clusterKey: fixtureKey) : nil
        let encoder = MessageEncoder(fernet: fernet)
        var sizes = [0, 1, 15, 16, 17, WireLimits.requestChunk - 1, WireLimits.requestChunk, WireLimits.requestChunk + 1, 12 << 20]
        for _ in 0..<6 { sizes.append(Int.random(in: 0...(12 << 20), using: &g)) }
        for _ in 0..<20 { sizes.append(Int.random(in: 0...4096, using: &g)) }
        var stream: [UInt8] = []
        var expected: [(UInt32, String, [UInt8])] = []
        for (i, size) in sizes.enumerated() {
            let payload = randomBytes(size, using: &g)
            let counter = UInt32.random(in: 0...UInt32.max, using: &g)
            let command = ["str_upd", "file_upd", "syn_i_w_m_p", "ok", "dapi"][i % 5]
            try encoder.encode(counter: counter, command: command, payload: payload, into: &stream)
            expected.append((counter, command, payload))
        }
        for maxChunk in [1 << 20, 7919] {
            let got = try Self.decodeChunked(stream, fernet: fernet, using: &g, maxChunk: maxChunk)
            #expect(got.count == expected.count, "seed \(seed)")
            for (m, e) in zip(got, expected) {
                #expect(m.counter == e.0 && m.name == e.1 && m.payload == e.2, "seed \(seed), size \(e.2.count)")
            }
        }
    }

    @Test func byteByByteSmallMessages() throws {
        var g = SplitMix64(seed: 5)
        let fernet = try Fernet(clusterKey: fixtureKey)
        var stream: [UInt8] = []
        for i in 0..<20 {
            try MessageEncoder(fernet: fernet).encode(counter: UInt32(i), command: "echo", payload: randomBytes(i * 13, using: &g), into: &stream)
        }
        let got = try Self.decodeChunked(stream, fernet: fernet, using: &g, maxChunk: 1)
        #expect(got.map(\.counter) == (0..<20).map(UInt32.init))
    }

    @Test func oversizedHeaderIsRefusedBeforeBuffering() throws {
        var header = FrameHeader(counter: 1, length: 0xFFFF_FFF0, command: try CommandField(name: "hello")).bytes
        header.append(contentsOf: [1, 2, 3])
        #expect(throws: WireError.payloadTooLarge(length: 0xFFFF_FFF0, limit: WireLimits.maxMessageSize)) {
            try header.withUnsafeBytes { try FrameParser.parse($0) }
        }
        let justOver = FrameHeader(counter: 1, length: UInt32(WireLimits.maxMessageSize + 1), command: try CommandField(name: "ok")).bytes
        #expect(throws: WireError.self) { try justOver.withUnsafeBytes { try FrameParser.parse($0) } }
        let atLimit = FrameHeader(counter: 1, length: UInt32(WireLimits.maxMessageSize), command: try CommandField(name: "ok")).bytes
        #expect(try atLimit.withUnsafeBytes { try FrameParser.parse($0) } == nil)  // waits for the payload
    }

    @Test func tooManyDividedMessages() throws {
        var assembler = DividedMessageAssembler()
        let fragment = try CommandField(name: "str_upd", position: .fragment)
        for counter in 0..<UInt32(WireLimits.maxConcurrentDividedMessages) {
            #expect(try assembler.accept(Frame(header: FrameHeader(counter: counter, length: 1, command: fragment), payload: [1])) == nil)
        }
        #expect(throws: WireError.tooManyDividedMessages(limit: 10)) {
            try assembler.accept(Frame(header: FrameHeader(counter: 99, length: 1, command: fragment), payload: [1]))
        }
        // Another fragment of a message already in progress is still fine.
        #expect(try assembler.accept(Frame(header: FrameHeader(counter: 3, length: 1, command: fragment), payload: [2])) == nil)
        #expect(WireError.tooManyDividedMessages(limit: 10).description.contains("10"))
    }

    @Test func reassembledSizeLimit() throws {
        var assembler = DividedMessageAssembler(maxConcurrent: 10, maxMessageSize: 100)
        let fragment = try CommandField(name: "x", position: .fragment)
        _ = try assembler.accept(Frame(header: FrameHeader(counter: 1, length: 60, command: fragment), payload: [UInt8](repeating: 0, count: 60)))
        #expect(throws: WireError.payloadTooLarge(length: 120, limit: 100)) {
            try assembler.accept(Frame(header: FrameHeader(counter: 1, length: 60, command: fragment), payload: [UInt8](repeating: 0, count: 60)))
        }
    }

    /// Garbage never crashes or hangs the decoder: it either waits for more data or ends in a typed error.
    @Test func garbageEndsInTypedErrors() throws {
        var g = SplitMix64(seed: 99)
        let fernet = try Fernet(clusterKey: fixtureKey)
        var typedErrors = 0
        for round in 0..<300 {
            var bytes = randomBytes(Int.random(in: 0...2000, using: &g), using: &g)
            if round % 3 == 0, bytes.count >= 8 { bytes[4] = 0; bytes[5] = 0; bytes[6] = UInt8.random(in: 0...3, using: &g) }
            var decoder = MessageDecoder(fernet: fernet)
            var offset = 0
            do {
                while offset < bytes.count {
                    let parsed = try bytes.withUnsafeBytes { try FrameParser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                    guard let (frame, consumed) = parsed else { break }
                    offset += consumed
                    _ = try decoder.accept(frame)
                }
            } catch {
                typedErrors += 1
            }
        }
        #expect(typedErrors > 50)
    }

    @Test func truncatedHeaderWaits() throws {
        let bytes: [UInt8] = [0, 0, 0, 1, 0, 0]
        #expect(try bytes.withUnsafeBytes { try FrameParser.parse($0) } == nil)
    }

    @Test func wrongKeyIsADecryptionError() throws {
        let a = try Fernet(clusterKey: fixtureKey)
        let b = try Fernet(clusterKey: "AnotherKeyAnotherKeyAnotherKey12")
        let bytes = try MessageEncoder(fernet: a).encode(counter: 1, command: "hello", payload: Array("w c worker 4.8.1".utf8))
        var decoder = MessageDecoder(fernet: b)
        let (frame, _) = try #require(try bytes.withUnsafeBytes { try FrameParser.parse($0) })
        #expect(throws: WireError.decryptionFailed(reason: Fernet.TokenError.badMAC.description)) { try decoder.accept(frame) }
    }
}
