/// The `files` section of cluster.json: the integrity items plus the names every item excludes
/// (PROTOCOL.md §5.1). `wazuh481` is the stock section; `load(path:)` reads another of the same shape.
public struct ClusterItems: Equatable, Sendable {
    /// Items in cluster.json order, which is also the walk order.
    public var items: [ClusterItem]
    /// Basenames never synced (`ar.conf`, `ossec.conf`).
    public var excludedFiles: [String]
    /// Basename suffixes never synced (`~`, `.tmp`, `.lock`, `.swp`).
    public var excludedExtensions: [String]

    public init(items: [ClusterItem], excludedFiles: [String], excludedExtensions: [String]) {
        self.items = items
        self.excludedFiles = excludedFiles
        self.excludedExtensions = excludedExtensions
    }

    /// The stock 4.8.1 section (unchanged through 4.14.7).
    public static let wazuh481 = ClusterItems(
        items: [
            ClusterItem(key: "etc/", files: ["client.keys"], recursive: false, permissions: 0o640,
                        description: "client keys file database"),
            ClusterItem(key: "etc/shared/", files: ["all"], recursive: true, permissions: 0o660,
                        removeSubdirsIfEmpty: true, description: "shared configuration files"),
            ClusterItem(key: "var/multigroups/", files: ["merged.mg"], recursive: true, permissions: 0o660,
                        removeSubdirsIfEmpty: true, description: "shared configuration files"),
            ClusterItem(key: "etc/rules/", files: ["all"], recursive: true, permissions: 0o660,
                        restart: true, description: "user rules"),
            ClusterItem(key: "etc/decoders/", files: ["all"], recursive: true, permissions: 0o660,
                        restart: true, description: "user decoders"),
            ClusterItem(key: "etc/lists/", files: ["all"], recursive: true, permissions: 0o660,
                        restart: true, description: "user CDB lists"),
        ],
        excludedFiles: ["ar.conf", "ossec.conf"],
        excludedExtensions: ["~", ".tmp", ".lock", ".swp"])

    /// `etc/cluster-api/`: the REST front's users file and token revocation stamp, synced from the master
    /// like the other integrity files, but only between clusterd nodes (a Wazuh peer neither sends nor
    /// receives it). Files never leave their directory (no recursion), mode 0600.
    public static let clusterAPIItem = ClusterItem(key: "etc/cluster-api/", files: ["all"], recursive: false, permissions: 0o600,
                                                   description: "cluster-api users and token revocation")

    /// The items between clusterd nodes: 4.8.1's plus `clusterAPIItem`.
    public static let clusterd = ClusterItems(items: wazuh481.items + [clusterAPIItem], excludedFiles: wazuh481.excludedFiles,
                                              excludedExtensions: wazuh481.excludedExtensions)

    /// Whether `path` belongs to an item only clusterd peers sync.
    public static func isClusterdOnly(_ path: String) -> Bool { path.hasPrefix(clusterAPIItem.key) }

    public subscript(key: String) -> ClusterItem? {
        items.last { $0.key == key }
    }

    /// Whether a basename is excluded by name or by ending.
    public func isExcluded(basename: some StringProtocol) -> Bool {
        if excludedFiles.contains(where: { $0 == basename }) { return true }
        return excludedExtensions.contains { basename.hasSuffix($0) }
    }

    /// The item that owns `path` under the walk rules of §5.1, or why none does. When `declaredKey` is
    /// given (a `cluster_item_key` from a peer), the path must belong to that very item (4.14.6 confines
    /// each path to its item). When several items accept a path the last one wins, as Python's dict
    /// update did when the walk reached it twice.
    public func owner(of path: String, declaredKey: String? = nil) -> Result<ClusterItem, ItemPathProblem> {
        if let reason = RelativePath.problem(in: path) { return .failure(.unsafe(reason)) }
        let basename = RelativePath.basename(path)
        if isExcluded(basename: basename) { return .failure(.excluded) }
        if let declaredKey, self[declaredKey] == nil { return .failure(.unknownItem(declaredKey)) }
        for item in items.reversed() where declaredKey == nil || item.key == declaredKey {
            // Byte comparison: String's hasPrefix applies Unicode equivalence, a file system does not.
            guard path.utf8.starts(with: item.key.utf8), path.utf8.count > item.key.utf8.count else { continue }
            let rest = path.utf8.dropFirst(item.key.utf8.count)
            if !item.recursive && rest.contains(UInt8(ascii: "/")) { continue }
            if item.accepts(basename: String(basename)) { return .success(item) }
        }
        if let declaredKey { return .failure(.notInItem(declaredKey)) }
        return .failure(.outsideItems)
    }
}

/// Why a path cannot be an integrity file.
public enum ItemPathProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// Absolute, `..`, empty component and similar (`RelativePath.problem`).
    case unsafe(String)
    /// The basename is in `excluded_files` or ends with an excluded extension.
    case excluded
    /// No item accepts the path.
    case outsideItems
    /// The declared `cluster_item_key` is not an item of this node.
    case unknownItem(String)
    /// The declared item exists but does not accept the path.
    case notInItem(String)

    public var description: String {
        switch self {
        case .unsafe(let reason): return "unsafe path (\(reason))"
        case .excluded: return "excluded file"
        case .outsideItems: return "not part of any cluster item"
        case .unknownItem(let key): return "unknown cluster item '\(key)'"
        case .notInItem(let key): return "not part of its cluster item '\(key)'"
        }
    }
}
