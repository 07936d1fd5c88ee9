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
        case .int(let i): Self.writeInt(i, into: &out)
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
        case .raw(let r):
            if compact || !ensureASCII { write(r.value, into: &out) } else { out.append(contentsOf: r.bytes) }
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

    /// Decimal digits of `v`, as `String(v)` prints them, without building a String.
    static func writeInt(_ v: Int64, into out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var n = v.magnitude
        var digits = 1
        while n >= 10 { n /= 10; digits += 1 }
        let end = out.count + digits
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        n = v.magnitude
        out.withUnsafeMutableBufferPointer { b in
            var i = end
            repeat {
                i -= 1
                b[i] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
        }
    }

    private func writeString(_ s: String, into out: inout [UInt8]) {
        var text = s
        text.withUTF8 { JSONStringEscaper.write($0, ensureASCII: ensureASCII, into: &out) }
    }

    /// Writes valid UTF-8 `buf` as a quoted JSON string (see `JSONStringEscaper`).
    static func writeString(utf8 buf: UnsafeBufferPointer<UInt8>, ensureASCII: Bool, into out: inout [UInt8]) {
        JSONStringEscaper.write(buf, ensureASCII: ensureASCII, into: &out)
    }
}

extension JSONValue {
    /// Python `json.dumps(value)` text.
    public var pythonText: String { PythonJSONEncoder().encode(self) }
    /// Compact text (`separators=(",", ":")`, as cJSON prints).
    public var compactText: String { PythonJSONEncoder(compact: true).encode(self) }
}
