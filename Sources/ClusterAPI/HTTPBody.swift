import Common
#if canImport(Glibc)
import Glibc
#endif

/// What the API sends for a DAPI outcome: the rendered result (`render()`), with the framework's dates
/// (`{"__wazuh_datetime__": "<iso>"}` on the wire) written as their ISO text, as the API's JSON encoder
/// writes datetimes.
enum HTTPBody {
    static func bytes(_ value: JSONValue, pretty: Bool) -> [UInt8] {
        if pretty { return Array(PrettyJSON.text(JSONValue.unwrappingDates(value.materialized)).utf8) }
        return unwrapDates(PythonJSONEncoder().encodeBytes(value))
    }

    static let marker = Array(#"{"__wazuh_datetime__": "#.utf8)

    static let affectedPrefix = Array(#"{"__wazuh_result__": {"__class__": "AffectedItemsWazuhResult", "__object__": {"affected_items": "#.utf8)

    /// An affected-items answer rendered without building its items: the item list is copied as text
    /// (it is most of a listing), the rest parsed as usual. nil when `bytes` is not such an answer in the
    /// order 4.8.1 and clusterd write it; the caller decodes it then.
    static func renderedAffectedItems(_ bytes: [UInt8]) -> (rendered: JSONValue, failed: Int, affected: Int)? {
        guard bytes.count > affectedPrefix.count, bytes.starts(with: affectedPrefix), bytes[affectedPrefix.count] == UInt8(ascii: "["),
              let end = itemsEnd(bytes) else { return nil }
        let span = Array(bytes[affectedPrefix.count..<end])
        let rest = affectedPrefix + Array("[]".utf8) + bytes[end...]
        guard case .affected(let a) = DapiOutcome.decode(rest) else { return nil }
        guard case .object(var top) = a.rendered, case .object(var data)? = top["data"] else { return nil }
        data["affected_items"] = .raw(RawJSON(span))
        top["data"] = .object(data)
        return (.object(top), a.totalFailedItems, a.totalAffectedItems)
    }

    static let afterItems = Array(#"], "sort_fields": "#.utf8)

    /// The end of the item list: the `]` of the last `], "sort_fields": ` (the top-level key that follows
    /// the items; what comes after them holds no such key), checked by scanning the list when the answer is
    /// small, found from the end otherwise.
    static func itemsEnd(_ bytes: [UInt8]) -> Int? {
        let start = affectedPrefix.count
        let n = afterItems.count
        var i = bytes.count - n
        while i >= start {
            if bytes[i] == 0x5D && bytes[i + 1] == 0x2C && bytes[i..<(i + n)].elementsEqual(afterItems) {
                // The list must be one value from its `[` to this `]`.
                if bytes.count < 64 << 10 { return skipValue(bytes, from: start) == i + 1 ? i + 1 : nil }
                return i + 1
            }
            i -= 1
        }
        return nil
    }

    /// The index just past the JSON value starting at `i` (nil for text that is not one).
    static func skipValue(_ b: [UInt8], from start: Int) -> Int? {
        b.withUnsafeBufferPointer { b -> Int? in
            var i = start
            guard i < b.count else { return nil }
            func skipString(_ j: inout Int) -> Bool {
                j += 1
                while j < b.count {
                    if b[j] == 0x5C { j += 2; continue }
                    if b[j] == 0x22 { j += 1; return true }
                    j += 1
                }
                return false
            }
            switch b[i] {
            case 0x22: return skipString(&i) ? i : nil
            case 0x5B, 0x7B:
                var depth = 0
                while i < b.count {
                    switch b[i] {
                    case 0x22: guard skipString(&i) else { return nil }; continue
                    case 0x5B, 0x7B: depth += 1
                    case 0x5D, 0x7D:
                        depth -= 1
                        if depth == 0 { return i + 1 }
                    default: break
                    }
                    i += 1
                }
                return nil
            default:
                while i < b.count, ![0x2C, 0x7D, 0x5D, 0x20, 0x0A, 0x0D, 0x09].contains(b[i]) { i += 1 }
                return i > start ? i : nil
            }
        }
    }

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
        // memchr to each candidate first byte, then a compare (memmem is not exported by Glibc's module).
        return hay.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                let base = h.baseAddress!
                var i = from
                let last = h.count - n.count
                while i <= last {
                    guard let p = memchr(base + i, Int32(n[0]), last - i + 1) else { return nil }
                    let at = base.distance(to: UnsafeRawPointer(p))
                    if memcmp(base + at, n.baseAddress!, n.count) == 0 { return at }
                    i = at + 1
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
