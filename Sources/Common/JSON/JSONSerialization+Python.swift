/// Serialises `JSONValue` the way Python's `json.dumps` does: by default `", "` and `": "` separators and
/// non-ASCII escaped as `\uXXXX` (`ensure_ascii=True`); `compact` gives `","`/`":"` (cJSON unformatted and
/// `separators=(",", ":")`).
public struct PythonJSONEncoder: Sendable {
    public var compact: Bool
    public var ensureASCII: Bool

    public init(compact: Bool = false, ensureASCII: Bool = true) {
        self.compact = compact
        self.ensureASCII = ensureASCII
    }

    public func encode(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        write(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func encodeBytes(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        write(value, into: &out)
        return out
    }

    public func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: Self.pythonFloat(d).utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(contentsOf: compact ? [0x2C] : [0x2C, 0x20]) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (k, v) in o {
                if !first { out.append(contentsOf: compact ? [0x2C] : [0x2C, 0x20]) }
                first = false
                writeString(k, into: &out)
                out.append(contentsOf: compact ? [0x3A] : [0x3A, 0x20])
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Python's `repr(float)`: shortest round-trip digits; integral values keep `.0`.
    public static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        var s = "\(d)"
        // Swift writes 1e-05 as "1e-05" like Python, but large values as "1e+16" where Python does too.
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = s
        // Over the UTF-8 bytes: runs of plain ASCII are copied at once (agent-info strings carry megabytes
        // of JSON text); escapes and non-ASCII scalars are handled one at a time.
        text.withUTF8 { buf in
            var i = 0
            while i < buf.count {
                let run = i
                while i < buf.count, buf[i] >= 0x20, buf[i] < 0x7F, buf[i] != 0x22, buf[i] != 0x5C { i += 1 }
                if i > run { out.append(contentsOf: buf[run..<i]) }
                guard i < buf.count else { break }
                let b = buf[i]
                if b < 0x80 {
                    switch b {
                    case 0x22: out.append(contentsOf: [0x5C, 0x22])
                    case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                    case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                    case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                    case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                    case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                    case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                    default: escapeUnit(UInt16(b), into: &out)  // other control characters and DEL
                    }
                    i += 1
                    continue
                }
                let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                let end = min(i + length, buf.count)
                if ensureASCII {
                    var scalar = UInt32(b) & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F)
                    for j in (i + 1)..<end { scalar = scalar << 6 | UInt32(buf[j] & 0x3F) }
                    if let u = Unicode.Scalar(scalar) {
                        for unit in String(u).utf16 { escapeUnit(unit, into: &out) }
                    }
                } else {
                    out.append(contentsOf: buf[i..<end])
                }
                i = end
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private func escapeUnit(_ u: UInt16, into out: inout [UInt8]) {
        out.append(contentsOf: [0x5C, UInt8(ascii: "u"),
                                Self.hex[Int(u >> 12)], Self.hex[Int(u >> 8 & 15)],
                                Self.hex[Int(u >> 4 & 15)], Self.hex[Int(u & 15)]])
    }
}

extension JSONValue {
    /// Python `json.dumps(value)` text.
    public var pythonText: String { PythonJSONEncoder().encode(self) }
    /// Compact text (`separators=(",", ":")`, as cJSON prints).
    public var compactText: String { PythonJSONEncoder(compact: true).encode(self) }
}
