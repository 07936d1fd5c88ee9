import Foundation

/// Base64url with `=` padding (RFC 4648 §5), as Fernet tokens use. Table-driven over raw buffers because
/// every node-to-node payload goes through it: a 200 MB transfer is 270 MB of base64.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func encodedLength(_ n: Int) -> Int { (n + 2) / 3 * 4 }

    public static func encode<C: ContiguousBytes>(_ input: C) -> [UInt8] {
        input.withUnsafeBytes { src in
            let n = src.count
            let outLen = encodedLength(n)
            return [UInt8](unsafeUninitializedCapacity: outLen) { dst, initialized in
                alphabet.withUnsafeBufferPointer { abc in
                    var i = 0, o = 0
                    while i + 3 <= n {
                        let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                        dst[o] = abc[Int(v >> 18)]
                        dst[o + 1] = abc[Int(v >> 12 & 63)]
                        dst[o + 2] = abc[Int(v >> 6 & 63)]
                        dst[o + 3] = abc[Int(v & 63)]
                        i += 3; o += 4
                    }
                    let rest = n - i
                    if rest > 0 {
                        var v = UInt32(src[i]) << 16
                        if rest == 2 { v |= UInt32(src[i + 1]) << 8 }
                        dst[o] = abc[Int(v >> 18)]
                        dst[o + 1] = abc[Int(v >> 12 & 63)]
                        dst[o + 2] = rest == 2 ? abc[Int(v >> 6 & 63)] : UInt8(ascii: "=")
                        dst[o + 3] = UInt8(ascii: "=")
                        o += 4
                    }
                }
                initialized = outLen
            }
        }
    }

    /// Decodes padded base64url. Returns nil on a length that is not a multiple of 4, a byte outside the
    /// alphabet, or misplaced padding.
    public static func decode<C: ContiguousBytes>(_ input: C) -> [UInt8]? {
        input.withUnsafeBytes { src -> [UInt8]? in
            let n = src.count
            guard n % 4 == 0 else { return nil }
            if n == 0 { return [] }
            var pad = 0
            if src[n - 1] == UInt8(ascii: "=") { pad += 1 }
            if src[n - 2] == UInt8(ascii: "=") { pad += 1 }
            let outLen = n / 4 * 3 - pad
            var ok = true
            let out = [UInt8](unsafeUninitializedCapacity: outLen) { dst, initialized in
                decodeTable.withUnsafeBufferPointer { t in
                    var i = 0, o = 0
                    let fullEnd = pad > 0 ? n - 4 : n
                    var bad: UInt8 = 0
                    while i < fullEnd {
                        let a = t[Int(src[i])], b = t[Int(src[i + 1])], c = t[Int(src[i + 2])], d = t[Int(src[i + 3])]
                        bad |= a | b | c | d
                        let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        dst[o] = UInt8(truncatingIfNeeded: v >> 16)
                        dst[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                        dst[o + 2] = UInt8(truncatingIfNeeded: v)
                        i += 4; o += 3
                    }
                    if bad & 0xC0 != 0 { ok = false }
                    if pad > 0 && ok {
                        let a = t[Int(src[i])], b = t[Int(src[i + 1])]
                        let c = pad == 1 ? t[Int(src[i + 2])] : 0
                        if (a | b | c) & 0xC0 != 0 { ok = false } else {
                            let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                            dst[o] = UInt8(truncatingIfNeeded: v >> 16)
                            if pad == 1 { dst[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
                        }
                    }
                }
                initialized = ok ? outLen : 0
            }
            return ok ? out : nil
        }
    }
}
