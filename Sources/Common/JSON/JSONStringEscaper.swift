/// JSON string escaping over UTF-8 bytes, as Python's `json.dumps` and cJSON write strings: `"` and `\`
/// escaped, `\n \r \t \b \f` by name, other control characters and DEL as `\u00XX`, and non-ASCII either
/// as `\uXXXX` (surrogate pairs above the BMP, `ensureASCII`) or left as is.
///
/// Agent-info moves megabytes of JSON text inside JSON strings, where a quote comes every few bytes, so
/// the common case is done in two passes: the escaped length first, then every byte written through a
/// pointer into room made once. Only ensure-ASCII text that has non-ASCII bytes takes the scalar path.
enum JSONStringEscaper {
    static func write(_ buf: UnsafeBufferPointer<UInt8>, ensureASCII: Bool, into out: inout [UInt8]) {
        var length = buf.count + 2
        var any: UInt8 = 0
        extra.withUnsafeBufferPointer { extra in
            for b in buf {
                length += Int(extra[Int(b)])
                any |= b
            }
        }
        if ensureASCII && any >= 0x80 {
            writeScalars(buf, into: &out)
            return
        }
        if length == buf.count + 2 {  // nothing to escape, as most column values
            out.append(0x22)
            out.append(contentsOf: buf)
            out.append(0x22)
            return
        }
        let start = out.count
        if out.capacity < start + length {
            // Room for what usually follows (the rest of an envelope) too, or the next append copies it all.
            out.reserveCapacity(start + length + length / 16 + 64)
        }
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBufferPointer { o in
            extra.withUnsafeBufferPointer { extra in
                name.withUnsafeBufferPointer { name in
                    var j = start
                    o[j] = 0x22
                    j += 1
                    for b in buf {
                        switch extra[Int(b)] {
                        case 0:
                            o[j] = b
                            j += 1
                        case 1:
                            o[j] = 0x5C
                            o[j + 1] = name[Int(b)]
                            j += 2
                        default:
                            writeUnit(UInt16(b), into: o, at: j)
                            j += 6
                        }
                    }
                    o[j] = 0x22
                }
            }
        }
    }

    /// Bytes each byte adds when escaped: 0 (as is; bytes ≥ 0x80 too), 1 (`\n`), 5 (`\u00XX`).
    private static let extra: [UInt8] = (0..<256).map { b in
        b == 0x7F || (b < 0x20 && name[b] == 0) ? 5 : b < 0x80 && name[b] != 0 ? 1 : 0
    }

    /// The letter after the backslash for the escapes JSON names, 0 for the rest.
    private static let name: [UInt8] = (0..<256).map { b -> UInt8 in
        switch b {
        case 0x22: 0x22
        case 0x5C: 0x5C
        case 0x0A: UInt8(ascii: "n")
        case 0x0D: UInt8(ascii: "r")
        case 0x09: UInt8(ascii: "t")
        case 0x08: UInt8(ascii: "b")
        case 0x0C: UInt8(ascii: "f")
        default: 0
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeUnit(_ u: UInt16, into o: UnsafeMutableBufferPointer<UInt8>, at j: Int) {
        o[j] = 0x5C
        o[j + 1] = UInt8(ascii: "u")
        o[j + 2] = hex[Int(u >> 12)]
        o[j + 3] = hex[Int(u >> 8 & 15)]
        o[j + 4] = hex[Int(u >> 4 & 15)]
        o[j + 5] = hex[Int(u & 15)]
    }

    /// Ensure-ASCII text with non-ASCII bytes: one scalar at a time, each as one or two `\uXXXX`.
    private static func writeScalars(_ buf: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var unit = [UInt8](repeating: 0, count: 6)
        func append(_ u: UInt16) {
            unit.withUnsafeMutableBufferPointer { writeUnit(u, into: $0, at: 0) }
            out.append(contentsOf: unit)
        }
        out.append(0x22)
        var i = 0
        while i < buf.count {
            let b = buf[i]
            if b < 0x80 {
                switch extra[Int(b)] {
                case 0: out.append(b)
                case 1: out.append(0x5C); out.append(name[Int(b)])
                default: append(UInt16(b))
                }
                i += 1
                continue
            }
            let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
            let end = min(i + length, buf.count)
            var scalar = UInt32(b) & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F)
            for j in (i + 1)..<end { scalar = scalar << 6 | UInt32(buf[j] & 0x3F) }
            if let u = Unicode.Scalar(scalar) {
                for u16 in String(u).utf16 { append(u16) }
            }
            i = end
        }
        out.append(0x22)
    }
}
