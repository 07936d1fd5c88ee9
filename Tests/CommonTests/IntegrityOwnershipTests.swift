import Foundation
import Testing
@testable import Common

/// Owners and modes of the files an integrity sync writes (PROTOCOL.md §5.7, LOCAL-DAPI-CONTROL.md §3.2):
/// each file gets its cluster item's user, group and mode before it becomes visible; only root gives
/// files away, any other process keeps the mode right and its own owner.
@Suite struct IntegrityOwnershipTests {
    static let asRoot = geteuid() == 0

    /// The wazuh ids, which `scripts/install-deps` creates.
    static func wazuh() throws -> FileOwner {
        let uid = try #require(FileOwnership.userID("wazuh"), "no wazuh user: run scripts/install-deps")
        let gid = try #require(FileOwnership.groupID("wazuh"), "no wazuh group: run scripts/install-deps")
        return FileOwner(uid: uid, gid: gid)
    }

    static func stat(_ path: String) -> (uid: uid_t, gid: gid_t, mode: Int)? {
        var st = Glibc.stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid, Int(st.st_mode) & 0o7777)
    }

    /// The mode every stock item gives its files.
    static func expectedMode(_ path: String) -> Int {
        path == "etc/client.keys" ? 0o640 : 0o660
    }

    /// A master with a file in every stock item and a worker that lacks most of them, has one changed and
    /// one extra; the worker's package of the master's files.
    static func package() throws -> (diff: IntegrityDiff, bytes: [UInt8], worker: () -> TemporaryDirectory) {
        let (master, makeWorker, diff) = IntegrityHomes.nodes(count: 30, seed: 5, master: [
            "var/multigroups/a1b2c3/merged.mg": "#default\n",
            "etc/lists/amazon/aws-eventnames": "a:b\n",
            "etc/shared/new-group/agent.conf": "<agent_config/>\n",
        ], worker: ["etc/client.keys": "001 old any key\n", "etc/rules/stale.xml": "<stale/>\n"])
        let bytes = try PackageWriter(format: .zip, home: master.path).syncPackage(diff).bytes
        withExtendedLifetime(master) {}
        return (diff, bytes, makeWorker)
    }

    @Test func theStockItemsAreWazuhWazuhWithTheirModes() {
        let items = ClusterItems.clusterd.items
        #expect(items.allSatisfy { $0.owner == "wazuh" && $0.group == "wazuh" })
        #expect(ClusterItems.wazuh481["etc/"]?.permissions == 0o640)
        for key in ["etc/shared/", "var/multigroups/", "etc/rules/", "etc/decoders/", "etc/lists/"] {
            #expect(ClusterItems.wazuh481[key]?.permissions == 0o660, "\(key)")
        }
        #expect(ClusterItems.clusterAPIItem.permissions == 0o600)
    }

    @Test func ownersAreReadFromAnItemsFileAndPrintedOnlyWhenNotTheStockOnes() throws {
        let json = try JSONParser.parse(Array(#"""
        {"etc/": {"files": ["client.keys"], "permissions": "0o640", "owner": "root", "group": "wazuh"},
         "etc/rules/": {"files": ["all"], "recursive": true},
         "excluded_files": [], "excluded_extensions": []}
        """#.utf8))
        let items = try ClusterItems(json: json)
        #expect(items["etc/"]?.owner == "root" && items["etc/"]?.group == "wazuh")
        #expect(items["etc/rules/"]?.owner == "wazuh" && items["etc/rules/"]?.group == "wazuh")
        #expect(try ClusterItems(json: items.json) == items)
        #expect(items["etc/rules/"]?.json.objectValue?["owner"] == nil)
        #expect(ClusterItems.wazuh481.json.objectValue?["etc/"]?.objectValue?["group"] == nil)
        let bad = try JSONParser.parse(Array(#"{"etc/": {"files": ["all"], "owner": "a:b"}}"#.utf8))
        #expect(throws: ClusterItemsError.invalid("'etc/.owner' must be a user or group name")) { try ClusterItems(json: bad) }
    }

    @Test func namesAreResolvedOnlyForRoot() throws {
        let items = ClusterItems(items: [
            ClusterItem(key: "etc/", files: ["client.keys"], recursive: false, permissions: 0o640, owner: "root", group: "root"),
            ClusterItem(key: "etc/rules/", files: ["all"], recursive: true, permissions: 0o660, owner: "no-such-user-x", group: "root"),
        ], excludedFiles: [], excludedExtensions: [])
        let asRoot = FileOwnership.resolve(items, effectiveUID: 0)
        #expect(asRoot.attributes(for: items.items[0]) == FileAttributes(permissions: 0o640, owner: FileOwner(uid: 0, gid: 0)))
        #expect(asRoot.attributes(for: items.items[1]) == FileAttributes(permissions: 0o660, owner: nil))
        #expect(asRoot.skipReason?.contains("user 'no-such-user-x'") == true)
        let notRoot = FileOwnership.resolve(items, effectiveUID: 1000)
        #expect(items.items.allSatisfy { notRoot.attributes(for: $0).owner == nil })
        #expect(notRoot.skipReason?.contains("not running as root") == true)
        #expect(FileOwnership.resolve(ClusterItems(items: [items.items[0]], excludedFiles: [], excludedExtensions: []), effectiveUID: 0).skipReason == nil)
    }

    @Test(.enabled(if: asRoot, "needs root: only root can give files to the wazuh user"))
    func appliedFilesGetTheirItemsOwnerAndMode() throws {
        let wazuh = try Self.wazuh()
        let (diff, bytes, makeWorker) = try Self.package()
        let dir = TemporaryDirectory()
        let packageFile = dir.write("package", bytes)
        for streamed in [false, true] {
            let home = makeWorker()
            let applier = PackageApplier(home: home.path, items: .clusterd)
            let result = streamed ? try applier.apply(packageFile: packageFile, budget: 1 << 30)
                                  : applier.apply(try PackageReader().read(bytes))
            #expect(!result.hasErrors && result.removed == ["etc/rules/stale.xml"])
            let written = diff.missing.paths + diff.shared.paths
            #expect(written.contains("etc/client.keys") && written.contains("var/multigroups/a1b2c3/merged.mg"))
            for path in written {
                let st = try #require(Self.stat(home.path + "/" + path), "\(path)")
                #expect(st.uid == wazuh.uid && st.gid == wazuh.gid, "\(path) owner \(st.uid):\(st.gid), streamed: \(streamed)")
                #expect(st.mode == Self.expectedMode(path), "\(path) mode \(String(st.mode, radix: 8))")
            }
            // Directories the apply made belong to the item's owner too, mode 0770.
            for made in ["etc/shared/new-group", "var/multigroups/a1b2c3", "etc/lists/amazon"] {
                let st = try #require(Self.stat(home.path + "/" + made), "\(made)")
                #expect(st.uid == wazuh.uid && st.gid == wazuh.gid && st.mode == 0o770, "\(made)")
            }
        }
    }

    @Test(.enabled(if: asRoot, "needs root: only root can give files to the wazuh user"))
    func aStagedFileHasItsOwnerAndModeBeforeItIsVisible() throws {
        let wazuh = try Self.wazuh()
        let (diff, bytes, makeWorker) = try Self.package()
        let home = makeWorker()
        let dir = TemporaryDirectory()
        let file = IncomingFile(path: dir.path + "/incoming")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let sender = IntegrityIncomingPackageTests.receive(bytes, into: file)
        let applier = PackageApplier(home: home.path, items: .clusterd)
        let staged = try applier.stage(incoming: file, budget: 1 << 30)
        withExtendedLifetime(sender) {}
        let written = diff.missing.paths + diff.shared.paths
        for path in written {
            let temporary = StagingArea.temporaryPath(for: home.path + "/" + path)
            let st = try #require(Self.stat(temporary), "staged \(path)")
            #expect(st.uid == wazuh.uid && st.gid == wazuh.gid && st.mode == Self.expectedMode(path), "staged \(path)")
        }
        _ = try applier.commit(staged)
        for path in written {
            let st = try #require(Self.stat(home.path + "/" + path))
            #expect(st.uid == wazuh.uid && st.gid == wazuh.gid && st.mode == Self.expectedMode(path), "\(path)")
        }
    }

    @Test func theTemporaryFileGetsOwnerAndModeBeforeItsRename() throws {
        let dir = TemporaryDirectory()
        dir.makeDirectory("etc")
        let target = dir.path + "/etc/client.keys"
        // The process's own ids: any process may "give" a file to itself, so this runs without root too.
        let own = FileOwner(uid: geteuid(), gid: getegid())
        #expect(StagingArea.writeTemporary(target, content: Array("001 a any k\n".utf8),
                                           attributes: FileAttributes(permissions: 0o640, owner: own)) == nil)
        let st = try #require(Self.stat(StagingArea.temporaryPath(for: target)))
        #expect(st.uid == own.uid && st.gid == own.gid && st.mode == 0o640)
        #expect(!FileManager.default.fileExists(atPath: target), "nothing visible before the rename")
        // A failing chown leaves no temporary file behind (only root may give a file to another user).
        if geteuid() != 0 {
            let failure = StagingArea.writeTemporary(target, content: [1], attributes: FileAttributes(permissions: 0o640, owner: FileOwner(uid: 0, gid: 0)))
            #expect(failure?.contains("fchown") == true)
            #expect(!FileManager.default.fileExists(atPath: StagingArea.temporaryPath(for: target)))
        }
    }

    @Test func withoutRootTheModesAreRightAndTheOwnerIsTheProcess() throws {
        let (diff, bytes, makeWorker) = try Self.package()
        let home = makeWorker()
        let ownership = FileOwnership.resolve(.clusterd, effectiveUID: 1000)
        let result = PackageApplier(home: home.path, items: .clusterd, ownership: ownership).apply(try PackageReader().read(bytes))
        #expect(!result.hasErrors)
        for path in diff.missing.paths + diff.shared.paths {
            let st = try #require(Self.stat(home.path + "/" + path))
            #expect(st.uid == geteuid() && st.mode == Self.expectedMode(path), "\(path)")
        }
    }
}
