import Common

/// What the API sends for a DAPI outcome: the rendered result (`render()`), with the framework's dates
/// (`{"__wazuh_datetime__": "<iso>"}` on the wire) written as their ISO text, as the API's JSON encoder
/// writes datetimes.
enum HTTPBody {
    static func bytes(_ value: JSONValue, pretty: Bool) -> [UInt8] {
        if pretty { return Array(PrettyJSON.text(JSONValue.unwrappingDates(value.materialized)).utf8) }
        return unwrapDates(PythonJSONEncoder().encodeBytes(value))
    }

    static let marker = Array(#"{"__wazuh_datetime__": "#.utf8)

    /// `{"__wazuh_datetime__": "X"}` → `"X"` in encoded text. The marker, with its unescaped quotes, can
    /// only be JSON structure: inside a string value its quotes would be escaped.
    static func unwrapDates(_ bytes: [UInt8]) -> [UInt8] {
        guard let first = find(marker, in: bytes, from: 0) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var next: Int? = first
        while let m = next {
            out.append(contentsOf: bytes[i..<m])
            var j = m + marker.count
            // Copy the string value, then skip the closing brace.
            guard j < bytes.count, bytes[j] == 0x22 else { out.append(contentsOf: bytes[m..<j]); i = j; next = find(marker, in: bytes, from: j); continue }
            let start = j
            j += 1
            while j < bytes.count, bytes[j] != 0x22 { j += bytes[j] == 0x5C ? 2 : 1 }
            j += 1
            out.append(contentsOf: bytes[start..<min(j, bytes.count)])
            if j < bytes.count, bytes[j] == 0x7D { j += 1 }
            i = j
            next = find(marker, in: bytes, from: j)
        }
        out.append(contentsOf: bytes[min(i, bytes.count)...])
        return out
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count, from <= hay.count - needle.count else { return nil }
        return hay.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = from
                let last = h.count - n.count
                while i <= last {
                    if h[i] == n[0] {
                        var k = 1
                        while k < n.count && h[i + k] == n[k] { k += 1 }
                        if k == n.count { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}

extension JSONValue {
    /// Dates of the wire form as their text (for pretty output, which is built from the tree).
    static func unwrappingDates(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            if o.count == 1, let d = o["__wazuh_datetime__"], case .string = d { return d }
            return .object(JSONObject(o.map { ($0.key, unwrappingDates($0.value)) }))
        case .array(let a): return .array(a.map(unwrappingDates))
        default: return v
        }
    }
}
