/// A node's integrity files: relative path → metadata, in insertion (walk) order, which is the order
/// the JSON object is written in. Lookups are O(1) because comparisons touch every path.
public struct IntegrityMetadata: Equatable, Sendable, Sequence {
    public private(set) var paths: [String] = []
    private var entries: [String: FileMetadata] = [:]

    public init() {}

    public init(minimumCapacity: Int) {
        paths.reserveCapacity(minimumCapacity)
        entries.reserveCapacity(minimumCapacity)
    }

    public init(_ pairs: [(String, FileMetadata)]) {
        for (path, metadata) in pairs { self[path] = metadata }
    }

    public var count: Int { paths.count }
    public var isEmpty: Bool { paths.isEmpty }

    public func contains(_ path: String) -> Bool { entries[path] != nil }

    /// Setting an existing path keeps its position; setting nil removes it.
    public subscript(path: String) -> FileMetadata? {
        get { entries[path] }
        set {
            if let newValue {
                if entries.updateValue(newValue, forKey: path) == nil { paths.append(path) }
            } else if entries.removeValue(forKey: path) != nil {
                paths.removeAll { $0 == path }
            }
        }
    }

    /// Removes several paths in one pass over the order list.
    public mutating func remove(_ removed: Set<String>) {
        guard !removed.isEmpty else { return }
        for path in removed { entries.removeValue(forKey: path) }
        paths.removeAll { removed.contains($0) }
    }

    public func makeIterator() -> AnyIterator<(path: String, metadata: FileMetadata)> {
        var i = 0
        return AnyIterator {
            guard i < paths.count else { return nil }
            defer { i += 1 }
            return (paths[i], entries[paths[i]]!)
        }
    }

    public static func == (a: IntegrityMetadata, b: IntegrityMetadata) -> Bool {
        a.paths == b.paths && a.entries == b.entries
    }

    /// The flat object a worker sends as `files_metadata.json`.
    public var json: JSONValue {
        var o = JSONObject()
        for path in paths { o[path] = entries[path]!.json }
        return .object(o)
    }

    /// Python `json.dumps` text of `json`.
    public var pythonJSONBytes: [UInt8] { PythonJSONEncoder().encodeBytes(json) }

    /// Reads a flat `{path: metadata}` object.
    public init(json: JSONValue) throws(MetadataError) {
        guard let o = json.objectValue else { throw .unexpectedShape("expected an object of files") }
        for (path, value) in o { self[path] = try FileMetadata(json: value, path: path) }
    }

    /// Parses JSON text of a flat metadata object.
    public init(jsonBytes: [UInt8]) throws(MetadataError) {
        let value: JSONValue
        do { value = try JSONParser.parse(jsonBytes) } catch { throw .invalidJSON(error.description) }
        try self.init(json: value)
    }
}
