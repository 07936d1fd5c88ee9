/// What a worker must change to match its master (PROTOCOL.md §5.5): the three groups of 4.8.1, master
/// wins. This is also the `files_metadata.json` of a master's sync package.
public struct IntegrityDiff: Equatable, Sendable {
    /// On the master only; the worker receives them. Master metadata.
    public var missing: IntegrityMetadata
    /// On the worker only (items that are not extra_valid); the worker deletes them. Worker metadata.
    public var extra: IntegrityMetadata
    /// On both with a different hash; the worker receives the master's copy. Master metadata.
    public var shared: IntegrityMetadata

    public init(missing: IntegrityMetadata = .init(), extra: IntegrityMetadata = .init(),
                shared: IntegrityMetadata = .init()) {
        self.missing = missing
        self.extra = extra
        self.shared = shared
    }

    /// The diff without the paths `drop` selects (what a peer does not sync).
    public func removing(where drop: (String) -> Bool) -> IntegrityDiff {
        func keep(_ m: IntegrityMetadata) -> IntegrityMetadata { IntegrityMetadata(m.filter { !drop($0.0) }.map { ($0.0, $0.1) }) }
        return IntegrityDiff(missing: keep(missing), extra: keep(extra), shared: keep(shared))
    }

    /// True when the worker already matches ("Sync not required").
    public var isEmpty: Bool { missing.isEmpty && extra.isEmpty && shared.isEmpty }

    /// `{"missing": …, "extra": …, "shared": …}` in that order; there is no `extra_valid` key in 4.8.1.
    public var json: JSONValue {
        .object(JSONObject([("missing", missing.json), ("extra", extra.json), ("shared", shared.json)]))
    }

    /// Reads the three-group object; a group that is absent is empty, an unknown key is refused.
    public init(json: JSONValue) throws(MetadataError) {
        guard let o = json.objectValue else { throw .unexpectedShape("expected {\"missing\", \"extra\", \"shared\"}") }
        self.init()
        for (key, value) in o {
            switch key {
            case "missing": missing = try IntegrityMetadata(json: value)
            case "extra": extra = try IntegrityMetadata(json: value)
            case "shared": shared = try IntegrityMetadata(json: value)
            default: throw .unexpectedShape("unknown group '\(key)' (expected missing, extra, shared)")
            }
        }
    }

    /// Whether a metadata object has the three-group shape rather than the flat `{path: metadata}` one.
    /// Flat keys are file paths, which are never the bare words `missing`, `extra` or `shared`.
    public static func isGroupObject(_ json: JSONValue) -> Bool {
        guard let o = json.objectValue, !o.isEmpty else { return false }
        return o.keys.allSatisfy { $0 == "missing" || $0 == "extra" || $0 == "shared" }
    }
}

/// The master's comparison of a worker's metadata against its own snapshot.
public enum IntegrityComparison {
    /// Compares by `hash` only. Extra files are kept or dropped by the `extra_valid` flag of the item the
    /// *worker* names, looked up in the master's items: 4.8.1 fails the whole check on an unknown key
    /// (KeyError), and so does this, with the path named.
    public static func compare(master: IntegrityMetadata, worker: IntegrityMetadata,
                               items: ClusterItems = .wazuh481) throws(CompareError) -> IntegrityDiff {
        var diff = IntegrityDiff()
        for (path, m) in master {
            if let w = worker[path] {
                if w.hash != m.hash { diff.shared[path] = m }
            } else {
                diff.missing[path] = m
            }
        }
        for (path, w) in worker where !master.contains(path) {
            guard let item = items[w.clusterItemKey] else {
                throw .unknownClusterItem(path: path, key: w.clusterItemKey)
            }
            if !item.extraValid { diff.extra[path] = w }
        }
        return diff
    }
}

public enum CompareError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A worker file names a `cluster_item_key` the master does not have.
    case unknownClusterItem(path: String, key: String)

    public var description: String {
        switch self {
        case let .unknownClusterItem(path, key):
            return "worker file '\(path)' belongs to cluster item '\(key)', which the master does not have"
        }
    }
}
