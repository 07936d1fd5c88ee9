import Common

/// The hashes of the node's user ruleset (LOCAL-DAPI-CONTROL.md §1.4 `get_hash`, §2.9
/// `get_node_ruleset_integrity`): `{"etc/rules/x.xml": "<BLAKE2b-512 hex>", ...}` for the files of the
/// cluster items `etc/rules/`, `etc/decoders/` and `etc/lists/` (walked recursively, with the cluster.json
/// excluded names and extensions left out), as the integrity scanner sees them.
public enum RulesetHash {
    /// The cluster items whose files make up the user ruleset.
    public static let itemKeys = ["etc/rules/", "etc/decoders/", "etc/lists/"]

    static var items: ClusterItems {
        let all = ClusterItems.wazuh481
        return ClusterItems(items: all.items.filter { itemKeys.contains($0.key) },
                            excludedFiles: all.excludedFiles, excludedExtensions: all.excludedExtensions)
    }

    /// Scans `home` now (no cache: the ruleset is small and this answers a one-off request). A file or
    /// directory that cannot be read is an error 1005 naming it, rather than a silently shorter dict that
    /// would compare as "not synced".
    public static func compute(home: String) throws -> JSONObject {
        var cache = HashCache()
        let scan = IntegrityScanner(home: home, items: items, concurrency: 1).scan(cache: &cache)
        if let issue = scan.issues.first(where: { $0.kind == .unreadable }) {
            throw WazuhException.error(1005, "\(issue.path): \(issue.reason)")
        }
        var out = JSONObject()
        for (path, metadata) in scan.metadata { out[path] = .string(metadata.hash) }
        return out
    }
}
