import CZlib
import Testing
@testable import Common

/// libdeflate's raw deflate and CRC-32 (zip entries) against zlib's inflate and CRC-32, the reference
/// every zip reader uses.
@Suite struct RawDeflateTests {
    /// zlib's raw inflate of `stream`, which must decode to exactly `size` bytes and end there.
    private func inflate(_ stream: [UInt8], size: Int) -> [UInt8]? {
        var z = z_stream()
        guard inflateInit2_(&z, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&z) }
        var out = [UInt8](repeating: 0, count: size + 1)
        var input = stream
        let rc = input.withUnsafeMutableBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                z.next_in = i.baseAddress
                z.avail_in = uInt(i.count)
                z.next_out = o.baseAddress
                z.avail_out = uInt(o.count)
                return CZlib.inflate(&z, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END, z.avail_in == 0, Int(z.total_out) == size else { return nil }
        return Array(out.prefix(size))
    }

    private func zlibCRC(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    @Test func inflatesToTheInputWithZlibsCRC() throws {
        var g = SplitMix64(seed: 15)
        let text = Array(String(repeating: "<rule id=\"5710\" level=\"5\"><match>sshd: Failed</match></rule>\n", count: 4000).utf8)
        var inputs: [[UInt8]] = [[], [0x41], text, Array(text.prefix(1000)), randomBytes(70_000, using: &g),
                                 [UInt8](repeating: 0, count: 300_000)]
        for size in [1, 2, 31, 257, 4096, 65_535, 65_537] { inputs.append(randomBytes(size, using: &g).map { $0 & 0x0f }) }
        for level in [1, 6, 12] {
            for input in inputs {
                let stream = try input.withUnsafeBytes { try RawDeflate.compress($0, level: level) }
                #expect(inflate(stream, size: input.count) == input, "level \(level), \(input.count) bytes")
                #expect(input.withUnsafeBytes { RawDeflate.crc32($0) } == zlibCRC(input))
            }
        }
        // Text shrinks; the compressors are reused, and a reused one gives the same bytes as a fresh one.
        let once = try text.withUnsafeBytes { try RawDeflate.compress($0, level: 1) }
        #expect(once.count < text.count / 4)
        #expect(try text.withUnsafeBytes { try RawDeflate.compress($0, level: 1) } == once)
    }
}
