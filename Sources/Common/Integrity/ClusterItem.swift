/// One entry of the `files` section of cluster.json (PROTOCOL.md §5.1): a directory under the node home
/// whose files take part in integrity sync, and how the receiver treats them.
public struct ClusterItem: Equatable, Sendable {
    /// The `cluster_item_key`: a home-relative directory ending in `/`, e.g. `etc/shared/`.
    public var key: String
    /// `["all"]`, or the basenames that count (`["client.keys"]`, `["merged.mg"]`).
    public var files: [String]
    /// Whether subdirectories are walked; a non-recursive item looks at its top directory only.
    public var recursive: Bool
    /// Mode the receiver gives a file it writes (cluster.json holds it as a string such as `"0o660"`).
    public var permissions: Int
    /// User and group that own a file the receiver writes (and the directories it makes for it), when the
    /// receiver runs as root: 4.8.1's worker gives every synced file `wazuh:wazuh` (PROTOCOL.md §5.7).
    /// cluster.json has no such keys; an items file may set them.
    public var owner: String
    public var group: String
    /// Whether a directory left empty after deleting `extra` files is removed (§5.7).
    public var removeSubdirsIfEmpty: Bool
    /// Whether worker-only files of this item are kept rather than deleted (none in the stock set).
    public var extraValid: Bool
    /// Present in cluster.json but ignored by 4.8.1, kept so a loaded file round-trips.
    public var restart: Bool
    public var source: String
    public var description: String

    /// The owner and group of every stock item.
    public static let defaultOwner = "wazuh"

    public init(key: String, files: [String], recursive: Bool, permissions: Int,
                owner: String = ClusterItem.defaultOwner, group: String = ClusterItem.defaultOwner,
                removeSubdirsIfEmpty: Bool = false, extraValid: Bool = false, restart: Bool = false,
                source: String = "master", description: String = "") {
        self.key = key
        self.files = files
        self.recursive = recursive
        self.permissions = permissions
        self.owner = owner
        self.group = group
        self.removeSubdirsIfEmpty = removeSubdirsIfEmpty
        self.extraValid = extraValid
        self.restart = restart
        self.source = source
        self.description = description
    }

    /// 4.8.1 takes every file only when the list is exactly `["all"]`; otherwise it is a list of basenames.
    public var takesAllFiles: Bool { files == ["all"] }

    /// Whether a file with this basename belongs to the item (exclusions are checked by `ClusterItems`).
    public func accepts(basename: String) -> Bool {
        takesAllFiles || files.contains(basename)
    }

    /// The item's `files` table entry, in cluster.json's key order; `owner` and `group` only when they are
    /// not the stock ones, so the stock table prints as cluster.json holds it.
    public var json: JSONValue {
        var o = JSONObject([
            ("permissions", .string("0o" + String(permissions, radix: 8))),
            ("source", .string(source)),
            ("files", .array(files.map { .string($0) })),
            ("recursive", .bool(recursive)),
            ("restart", .bool(restart)),
            ("remove_subdirs_if_empty", .bool(removeSubdirsIfEmpty)),
            ("extra_valid", .bool(extraValid)),
            ("description", .string(description)),
        ])
        if owner != Self.defaultOwner { o["owner"] = .string(owner) }
        if group != Self.defaultOwner { o["group"] = .string(group) }
        return .object(o)
    }
}
