/// Python's `str()` and `repr()` of decoded JSON values, for text that 4.8.1 builds with `format()`.
public enum PythonText {
    /// `str(value)`: strings as they are, `True`/`False`/`None`, float `repr`, containers as `repr`.
    public static func str(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return repr(value)
    }

    /// `repr(value)`.
    public static func repr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return d.isNaN ? "nan" : d.isInfinite ? (d < 0 ? "-inf" : "inf") : PythonJSONEncoder.pythonFloat(d)
        case .string(let s): return repr(s)
        case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { repr($0.key) + ": " + repr($0.value) }.joined(separator: ", ") + "}"
        case .raw(let r): return repr(r.value)
        }
    }

    /// `repr(str)`: single quotes unless the text holds a `'` and no `"`.
    public static func repr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where Character(scalar) == quote: out += "\\" + String(quote)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append(quote)
        return out
    }

    /// `len(str)`: Python counts code points, not grapheme clusters.
    public static func length(_ s: String) -> Int { s.unicodeScalars.count }

    /// `str.ljust(width)`.
    public static func ljust(_ s: String, _ width: Int) -> String {
        let n = length(s)
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    /// Python's `sorted()` order of strings: by code point.
    public static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }
}
