/// What a node says about one integrity file (PROTOCOL.md §5.2). Only `hash` is compared between nodes;
/// `mod_time` feeds the sender's own cache, and `merged` is always false with the stock items.
public struct FileMetadata: Equatable, Sendable {
    /// `os.path.getmtime`: seconds since the epoch as a float.
    public var modTime: Double
    /// The cluster.json key of the item the file belongs to, e.g. `etc/shared/`.
    public var clusterItemKey: String
    /// True iff the basename contains `.merged` (dead in 4.8.1, kept for the schema).
    public var merged: Bool
    /// `"TYPE"` when merged.
    public var mergeType: String?
    /// Absolute path of the file when merged.
    public var mergeName: String?
    /// BLAKE2b-512 of the content, 128 lowercase hex characters.
    public var hash: String

    public init(modTime: Double, clusterItemKey: String, merged: Bool = false, mergeType: String? = nil,
                mergeName: String? = nil, hash: String) {
        self.modTime = modTime
        self.clusterItemKey = clusterItemKey
        self.merged = merged
        self.mergeType = mergeType
        self.mergeName = mergeName
        self.hash = hash
    }

    /// `mod_time` as Python computes `st_mtime`: whole seconds plus nanoseconds × 1e-9, in doubles.
    public static func modTime(seconds: Int, nanoseconds: Int) -> Double {
        Double(seconds) + Double(nanoseconds) * 1e-9
    }

    /// The JSON object, keys in 4.8.1 order; `merge_type`/`merge_name` only when merged.
    public var json: JSONValue {
        var o = JSONObject()
        o["mod_time"] = .double(modTime)
        o["cluster_item_key"] = .string(clusterItemKey)
        o["merged"] = .bool(merged)
        if merged {
            o["merge_type"] = .string(mergeType ?? "TYPE")
            o["merge_name"] = .string(mergeName ?? "")
        }
        o["hash"] = .string(hash)
        return .object(o)
    }

    /// Reads one entry of a peer's metadata. `hash` and `cluster_item_key` are required because the
    /// comparison and the path confinement need them; the rest default as 4.8.1 would write them.
    public init(json: JSONValue, path: String) throws(MetadataError) {
        guard let o = json.objectValue else { throw .notAnObject(path: path) }
        guard let hash = o["hash"]?.stringValue else { throw .missingField(path: path, field: "hash") }
        guard let key = o["cluster_item_key"]?.stringValue else {
            throw .missingField(path: path, field: "cluster_item_key")
        }
        var modTime = 0.0
        if let m = o["mod_time"] {
            guard let d = m.doubleValue else { throw .badField(path: path, field: "mod_time") }
            modTime = d
        }
        var merged = false
        if let m = o["merged"] {
            guard let b = m.boolValue else { throw .badField(path: path, field: "merged") }
            merged = b
        }
        self.init(modTime: modTime, clusterItemKey: key, merged: merged,
                  mergeType: o["merge_type"]?.stringValue, mergeName: o["merge_name"]?.stringValue, hash: hash)
    }
}

/// Metadata JSON that does not have the §5.2 shape.
public enum MetadataError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAnObject(path: String)
    case missingField(path: String, field: String)
    case badField(path: String, field: String)
    case invalidJSON(String)
    case unexpectedShape(String)

    public var description: String {
        switch self {
        case .notAnObject(let path): return "metadata of '\(path)' is not a JSON object"
        case let .missingField(path, field): return "metadata of '\(path)' has no '\(field)'"
        case let .badField(path, field): return "metadata of '\(path)' has an invalid '\(field)'"
        case .invalidJSON(let reason): return "metadata is not valid JSON: \(reason)"
        case .unexpectedShape(let reason): return "unexpected metadata: \(reason)"
        }
    }
}
