import Foundation
import Testing
@testable import Common

/// `etc/cluster-api/` is an integrity item between clusterd nodes only.
@Suite struct ClusterdItemsTests {
    @Test func theClusterAPIItemOwnsItsFilesOnly() {
        let items = ClusterItems.clusterd
        guard case .success(let item) = items.owner(of: "etc/cluster-api/users.json") else { Issue.record("not owned"); return }
        #expect(item.key == "etc/cluster-api/" && item.permissions == 0o600)
        // No subdirectories, no lock or temporary files, and 4.8.1's items do not know it.
        if case .success = items.owner(of: "etc/cluster-api/sub/users.json") { Issue.record("a subdirectory was accepted") }
        if case .success = items.owner(of: "etc/cluster-api/users.json.lock") { Issue.record("the lock file was accepted") }
        if case .success = items.owner(of: "etc/cluster-api/users.json.12.34.tmp") { Issue.record("a temporary file was accepted") }
        if case .success = ClusterItems.wazuh481.owner(of: "etc/cluster-api/users.json") { Issue.record("4.8.1's items accept it") }
        #expect(items.items.dropLast() == ClusterItems.wazuh481.items)
    }

    @Test func aDiffForAWazuhPeerLeavesThemOut() {
        let m = FileMetadata(modTime: 1, clusterItemKey: "etc/cluster-api/", hash: "h")
        let r = FileMetadata(modTime: 1, clusterItemKey: "etc/rules/", hash: "h")
        let diff = IntegrityDiff(missing: IntegrityMetadata([("etc/cluster-api/users.json", m), ("etc/rules/a.xml", r)]),
                                 extra: IntegrityMetadata([("etc/cluster-api/revoked", m)]),
                                 shared: IntegrityMetadata([("etc/cluster-api/revoked", m)]))
        let wazuh = diff.removing(where: ClusterItems.isClusterdOnly)
        #expect(wazuh.missing.paths == ["etc/rules/a.xml"] && wazuh.extra.isEmpty && wazuh.shared.isEmpty)
    }
}
