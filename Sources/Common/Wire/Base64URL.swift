import CWireKernels
import Foundation

/// Base64url with `=` padding (RFC 4648 §5), as Fernet tokens use. Every node-to-node payload goes through
/// it (a 200 MB transfer is 270 MB of base64), so the bulk of long inputs runs through the AVX2 kernels of
/// `CWireKernels` when the CPU has them, and otherwise through table-driven loops over unsafe pointers
/// that move 6 bytes ↔ 8 characters per step. Short inputs and the ends of long ones take the scalar path.
///
/// Decoding is strict about the alphabet and the length (a multiple of 4, at most two `=` at the very end)
/// and, like Python's decoder, lenient about the unused bits of the last character before the padding.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Whether the AVX2 kernels run (checked once: CPUID and the OS's saved YMM state).
    static let vectorAvailable: Bool = cwk_avx2_available() != 0

    /// Two characters for every 12-bit value, first character in the low byte (so a little-endian store
    /// writes them in order).
    private static let pairTable: [UInt16] = (0..<4096).map { v in
        UInt16(alphabet[v >> 6]) | UInt16(alphabet[v & 63]) << 8
    }

    /// Four 256-entry tables, one per position of a character in its group of four: the character's
    /// 6 bits already shifted to where they land in the group's 3 bytes (first byte in the low bits).
    /// A character outside the alphabet has `invalidBits` instead.
    private static let invalidBits: UInt32 = 0xFF00_0000
    private static let quadTable: [UInt32] = {
        var t = [UInt32](repeating: invalidBits, count: 1024)
        for (v, c) in alphabet.enumerated() {
            let v = UInt32(v), c = Int(c)
            t[c] = v << 2                                       // byte 0, bits 7..2
            t[256 + c] = v >> 4 | (v & 0x0F) << 12              // byte 0 bits 1..0, byte 1 bits 7..4
            t[512 + c] = (v >> 2) << 8 | (v & 0x03) << 22       // byte 1 bits 3..0, byte 2 bits 7..6
            t[768 + c] = v << 16                                // byte 2 bits 5..0
        }
        return t
    }()

    public static func encodedLength(_ n: Int) -> Int { (n + 2) / 3 * 4 }

    public static func encode<C: ContiguousBytes>(_ input: C) -> [UInt8] {
        input.withUnsafeBytes { src in
            let outLen = encodedLength(src.count)
            return [UInt8](unsafeUninitializedCapacity: outLen) { dst, initialized in
                if let base = src.baseAddress, let out = dst.baseAddress {
                    initialized = encodeFinal(base.assumingMemoryBound(to: UInt8.self), src.count, out)
                } else {
                    initialized = 0
                }
            }
        }
    }

    /// Decodes padded base64url. Returns nil on a length that is not a multiple of 4, a byte outside the
    /// alphabet, or misplaced padding.
    public static func decode<C: ContiguousBytes>(_ input: C) -> [UInt8]? {
        input.withUnsafeBytes { raw -> [UInt8]? in
            let n = raw.count
            guard n % 4 == 0 else { return nil }
            guard n > 0, let base = raw.baseAddress else { return [] }
            let src = base.assumingMemoryBound(to: UInt8.self)
            let pad = paddingCount(src, n)
            let body = pad > 0 ? n - 4 : n
            var ok = true
            let out = [UInt8](unsafeUninitializedCapacity: n / 4 * 3 - pad) { dst, initialized in
                let o = dst.baseAddress!
                ok = decodeBlocks(src, body, o)
                if ok && pad > 0 { ok = decodeLastGroup(src + body, pad: pad, o + body / 4 * 3) }
                initialized = ok ? n / 4 * 3 - pad : 0
            }
            return ok ? out : nil
        }
    }

    // MARK: building blocks (Fernet streams through these)

    /// The `=` at the end of `n` (a positive multiple of 4) characters: 0, 1 or 2. Only these two
    /// positions may hold padding; a `=` anywhere else is refused as outside the alphabet.
    static func paddingCount(_ src: UnsafePointer<UInt8>, _ n: Int) -> Int {
        (src[n - 1] == UInt8(ascii: "=") ? 1 : 0) + (src[n - 2] == UInt8(ascii: "=") ? 1 : 0)
    }

    /// Encodes `n` bytes, `n` a multiple of 3, into `n / 3 * 4` characters. Returns the characters written.
    @inline(__always)
    static func encodeBlocks(_ src: UnsafePointer<UInt8>, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>,
                             vector: Bool = vectorAvailable) -> Int {
        var i = 0
        if vector && n >= 28 { i = cwk_b64_encode_avx2(src, n, dst) }
        encodeScalar(src + i, n - i, dst + i / 3 * 4)
        return n / 3 * 4
    }

    /// Encodes `n` bytes (any length) with padding into `encodedLength(n)` characters; returns that count.
    static func encodeFinal(_ src: UnsafePointer<UInt8>, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>,
                            vector: Bool = vectorAvailable) -> Int {
        let whole = n - n % 3
        var o = encodeBlocks(src, whole, dst, vector: vector)
        let rest = n - whole
        if rest > 0 {
            let abc = alphabet
            var v = UInt32(src[whole]) << 16
            if rest == 2 { v |= UInt32(src[whole + 1]) << 8 }
            dst[o] = abc[Int(v >> 18)]
            dst[o + 1] = abc[Int(v >> 12 & 63)]
            dst[o + 2] = rest == 2 ? abc[Int(v >> 6 & 63)] : UInt8(ascii: "=")
            dst[o + 3] = UInt8(ascii: "=")
            o += 4
        }
        return o
    }

    /// Decodes `n` characters, `n` a multiple of 4 and no padding among them, into `n / 4 * 3` bytes.
    /// Returns false if a character is outside the alphabet (the bytes written are then meaningless).
    @inline(__always)
    static func decodeBlocks(_ src: UnsafePointer<UInt8>, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>,
                             vector: Bool = vectorAvailable) -> Bool {
        var i = 0
        var invalid: Int32 = 0
        if vector && n >= 32 { i = cwk_b64_decode_avx2(src, n, dst, &invalid) }
        return invalid == 0 && decodeScalar(src + i, n - i, dst + i / 4 * 3)
    }

    /// Decodes the last group, which ends in `pad` (1 or 2) `=`, into `3 - pad` bytes.
    static func decodeLastGroup(_ src: UnsafePointer<UInt8>, pad: Int, _ dst: UnsafeMutablePointer<UInt8>) -> Bool {
        quadTable.withUnsafeBufferPointer { t in
            let a = t[Int(src[0])], b = t[256 + Int(src[1])]
            let c = pad == 1 ? t[512 + Int(src[2])] : 0
            let v = a | b | c
            guard v & invalidBits == 0 else { return false }
            dst[0] = UInt8(truncatingIfNeeded: v)
            if pad == 1 { dst[1] = UInt8(truncatingIfNeeded: v >> 8) }
            return true
        }
    }

    // MARK: scalar loops

    /// `n` a multiple of 3. Six bytes → eight characters per step while 8 bytes can be read.
    private static func encodeScalar(_ src: UnsafePointer<UInt8>, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>) {
        pairTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
            var i = 0, o = 0
            while n - i >= 8 {
                let x = from.loadUnaligned(fromByteOffset: i, as: UInt64.self).bigEndian
                let chars = UInt64(t[Int(x >> 52)]) | UInt64(t[Int(x >> 40 & 0xFFF)]) << 16
                    | UInt64(t[Int(x >> 28 & 0xFFF)]) << 32 | UInt64(t[Int(x >> 16 & 0xFFF)]) << 48
                to.storeBytes(of: chars.littleEndian, toByteOffset: o, as: UInt64.self)
                i += 6; o += 8
            }
            while i < n {
                let x = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                let chars = UInt32(t[Int(x >> 12)]) | UInt32(t[Int(x & 0xFFF)]) << 16
                to.storeBytes(of: chars.littleEndian, toByteOffset: o, as: UInt32.self)
                i += 3; o += 4
            }
        }
    }

    /// `n` a multiple of 4, no padding. Eight characters → six bytes per step (an 8-byte store whose last
    /// two bytes the next step overwrites) while at least 12 remain, then 4 → 3.
    private static func decodeScalar(_ src: UnsafePointer<UInt8>, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>) -> Bool {
        quadTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
            var i = 0, o = 0
            var bad: UInt32 = 0
            while n - i >= 12 {
                let x = UInt64(littleEndian: from.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let lo = t[Int(x & 0xFF)] | t[256 + Int(x >> 8 & 0xFF)] | t[512 + Int(x >> 16 & 0xFF)] | t[768 + Int(x >> 24 & 0xFF)]
                let hi = t[Int(x >> 32 & 0xFF)] | t[256 + Int(x >> 40 & 0xFF)] | t[512 + Int(x >> 48 & 0xFF)] | t[768 + Int(x >> 56)]
                bad |= lo | hi
                let bytes = UInt64(lo & 0xFF_FFFF) | UInt64(hi) << 24
                to.storeBytes(of: bytes.littleEndian, toByteOffset: o, as: UInt64.self)
                i += 8; o += 6
            }
            while i < n {
                let v = t[Int(src[i])] | t[256 + Int(src[i + 1])] | t[512 + Int(src[i + 2])] | t[768 + Int(src[i + 3])]
                bad |= v
                dst[o] = UInt8(truncatingIfNeeded: v)
                dst[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                dst[o + 2] = UInt8(truncatingIfNeeded: v >> 16)
                i += 4; o += 3
            }
            return bad & invalidBits == 0
        }
    }
}
