/// A JSON value that keeps object keys in order. Wazuh peers produce and expect Python `json.dumps` text,
/// whose key order and separators are part of what the other side hashes, logs or compares, so the
/// cluster code builds and reads JSON through this type rather than through unordered dictionaries.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
    /// A value already written as `json.dumps` text (default separators, ASCII): large answers built
    /// straight from database rows skip the tree. Reading into it parses it (`materialized`).
    case raw(RawJSON)

    public subscript(key: String) -> JSONValue? {
        switch self {
        case .object(let o): return o[key]
        case .raw(let r): return r.value[key]
        default: return nil
        }
    }

    /// The value with every `raw` part parsed.
    public var materialized: JSONValue {
        switch self {
        case .raw(let r): return r.value.materialized
        case .array(let a): return .array(a.map(\.materialized))
        case .object(let o): return .object(JSONObject(o.map { ($0.key, $0.value.materialized) }))
        default: return self
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? {
        switch self {
        case .array(let a): return a
        case .raw(let r): return r.value.arrayValue
        default: return nil
        }
    }
    public var objectValue: JSONObject? {
        switch self {
        case .object(let o): return o
        case .raw(let r): return r.value.objectValue
        default: return nil
        }
    }
    public var isNull: Bool { self == .null }
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int64(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}

/// JSON text written by `PythonJSONEncoder` rules (default separators, `ensure_ascii`), kept as bytes.
public struct RawJSON: Equatable, Sendable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// The parsed value (`null` for text that does not parse, which a writer of raw text must not produce).
    public var value: JSONValue { (try? JSONParser.parse(bytes)) ?? .null }
}

/// An ordered JSON object. Small objects (the protocol's envelopes, one agent's row) are searched
/// linearly, which is faster than hashing for a few keys; a hash index is built once an object grows past
/// `indexThreshold` keys (file metadata maps with thousands of entries).
public struct JSONObject: Equatable, Sendable, Sequence {
    public private(set) var keys: [String] = []
    public private(set) var values: [JSONValue] = []
    private var index: [String: Int]? = nil
    static let indexThreshold = 24

    public init() {}

    public init(_ pairs: [(String, JSONValue)]) {
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return keys.firstIndex(of: key)
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { values[$0] } }
        set {
            if let i = position(of: key) {
                if let newValue { values[i] = newValue } else { remove(at: i) }
            } else if let newValue {
                index?[key] = keys.count
                keys.append(key)
                values.append(newValue)
                if index == nil && keys.count > Self.indexThreshold {
                    index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
                }
            }
        }
    }

    /// Appends a key the caller knows is new (the parser, after checking): no lookup on small objects.
    mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        if position(of: key) != nil { self[key] = value; return }
        index?[key] = keys.count
        keys.append(key)
        values.append(value)
        if index == nil && keys.count > Self.indexThreshold {
            index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        }
    }

    private mutating func remove(at i: Int) {
        keys.remove(at: i)
        values.remove(at: i)
        if index != nil { index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) }) }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: JSONValue)> {
        var i = 0
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[i])
        }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.keys == b.keys && a.values == b.values }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}
