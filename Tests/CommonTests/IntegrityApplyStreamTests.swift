import Common
import Foundation
import Testing

/// Applying a master package streamed from its file, against applying it read in memory.
@Suite("Integrity streaming apply")
struct IntegrityApplyStreamTests {
    /// A master home and a worker home that differs from it in every way: files missing, changed, extra
    /// (one alone in a group directory that must go with it), and one the same.
    private static func makeNodes() -> (master: TemporaryDirectory, worker: () -> TemporaryDirectory, diff: IntegrityDiff) {
        IntegrityHomes.nodes(count: 150, seed: 8, master: ["etc/shared/default/same.conf": "same\n"], worker: [
            "etc/client.keys": "001 old any key\n",
            "etc/shared/default/same.conf": "same\n",
            "etc/shared/default/f0.xml": "old content\n",
            "etc/shared/gone/only.conf": "extra\n",
            "etc/rules/stale.xml": "<stale/>\n",
        ])
    }

    @Test("a streamed apply leaves the same tree and result as an in-memory one", arguments: PackageFormat.allCases)
    func sameAsInMemory(format: PackageFormat) throws {
        let (master, makeWorker, diff) = Self.makeNodes()
        #expect(!diff.missing.isEmpty && !diff.shared.isEmpty && !diff.extra.isEmpty)
        let dir = TemporaryDirectory()
        let build = try PackageWriter(format: format, home: master.path).syncPackage(diff, toFile: dir.path + "/package")
        let inMemoryHome = makeWorker()
        let expected = PackageApplier(home: inMemoryHome.path).apply(try PackageReader().read(try #require(dir.read("package"))))
        #expect(!expected.hasErrors && expected.created.count == build.diff?.missing.count)
        for writerThreads in [0, 2] {
            let home = makeWorker()
            var applier = PackageApplier(home: home.path)
            applier.writerThreads = writerThreads
            var seen: IntegrityDiff?
            let result = try applier.apply(packageFile: dir.path + "/package", budget: 1 << 30) { seen = $0 }
            #expect(seen == build.diff)
            #expect(result == expected)
            #expect(home.tree(directories: true) == inMemoryHome.tree(directories: true))
            #expect(!home.listing().contains { $0.hasSuffix(PackageApplier.temporarySuffix) })
            #expect(!home.listing().contains("etc/shared/gone"))
            for path in diff.missing.paths + diff.shared.paths { #expect(home.read(path) == master.read(path), "\(path)") }
            var st = stat()
            #expect(stat(home.path + "/etc/client.keys", &st) == 0 && st.st_mode & 0o777 == 0o640)
            #expect(stat(home.path + "/etc/rules/f2.xml", &st) == 0 && st.st_mode & 0o777 == 0o660)
        }
    }

    @Test("a file the groups do not ask for is discarded, with the directory made for it")
    func unlistedFileDiscarded() throws {
        let keys = "{\"mod_time\": 1.0, \"cluster_item_key\": \"etc/\", \"merged\": false, \"hash\": \"00\"}"
        let metadata = Array("{\"missing\": {\"etc/client.keys\": \(keys)}, \"extra\": {}, \"shared\": {}}".utf8)
        let package = try IntegrityHostilePackageTests.container(
            [("etc/client.keys", Array("001 new any key\n".utf8)), ("etc/rules/sub/unasked.xml", Array("<x/>".utf8))],
            metadata: metadata)
        let dir = TemporaryDirectory()
        let home = TemporaryDirectory()
        home.makeDirectory("etc/rules")
        let result = try PackageApplier(home: home.path).apply(packageFile: dir.write("package", package), budget: 1 << 20)
        #expect(result.created == ["etc/client.keys"] && !result.hasErrors)
        #expect(home.listing() == ["etc", "etc/client.keys", "etc/rules"])
    }

    @Test("metadata arriving last that names a file under another item refuses the package, home untouched")
    func mismatchedItemKey() throws {
        let wrong = "{\"mod_time\": 1.0, \"cluster_item_key\": \"etc/shared/\", \"merged\": false, \"hash\": \"00\"}"
        let metadata = Array("{\"missing\": {\"etc/rules/new.xml\": \(wrong)}, \"extra\": {}, \"shared\": {}}".utf8)
        for format in PackageFormat.allCases {
            let entries = [("etc/rules/new.xml", Array("<new/>".utf8))]
            let package = format == .wazuh
                ? try IntegrityHostilePackageTests.container(entries, metadata: metadata)
                : try IntegrityHostilePackageTests.zip(entries.map { ($0.0, $0.1, .file) }, metadata: metadata)
            let dir = TemporaryDirectory()
            let home = TemporaryDirectory()
            home.write("etc/client.keys", "001 old any key\n")
            #expect(throws: PackageError.wrongClusterItem(path: "etc/rules/new.xml", key: "etc/shared/")) {
                try PackageApplier(home: home.path).apply(packageFile: dir.write("package", package), budget: 1 << 20)
            }
            #expect(home.listing() == ["etc", "etc/client.keys"])
            #expect(home.read("etc/client.keys") == Array("001 old any key\n".utf8))
        }
    }

    @Test("removingPackage deletes the package file whether it is applied or refused")
    func removingPackage() throws {
        let keys = "{\"mod_time\": 1.0, \"cluster_item_key\": \"etc/\", \"merged\": false, \"hash\": \"00\"}"
        let good = try IntegrityHostilePackageTests.container(
            [("etc/client.keys", Array("001 new any key\n".utf8))],
            metadata: Array("{\"missing\": {\"etc/client.keys\": \(keys)}}".utf8))
        let bad = Array(good.dropLast(3))
        for (package, accepted) in [(good, true), (bad, false)] {
            let dir = TemporaryDirectory()
            let home = TemporaryDirectory()
            let path = dir.write("package", package)
            let result = try? PackageApplier(home: home.path).apply(packageFile: path, budget: 1 << 20, removingPackage: true)
            #expect((result?.created == ["etc/client.keys"]) == accepted)
            #expect(dir.listing().isEmpty)
        }
    }

    @Test("a worker's metadata package is not applied")
    func nodeMetadataRefused() throws {
        let package = try IntegrityHostilePackageTests.container([("etc/rules/new.xml", Array("<new/>".utf8))])
        let dir = TemporaryDirectory()
        let home = TemporaryDirectory()
        #expect(throws: PackageError.notSyncGroups) {
            try PackageApplier(home: home.path).apply(packageFile: dir.write("package", package), budget: 1 << 20)
        }
        #expect(home.listing().isEmpty)
    }

    @Test("the declared item's permissions win over the item that staged the file")
    func declaredItemPermissions() throws {
        // Both items accept etc/shared/x.conf; without a key the later one (0660) owns it.
        let items = ClusterItems(items: [
            ClusterItem(key: "etc/", files: ["all"], recursive: true, permissions: 0o600),
            ClusterItem(key: "etc/shared/", files: ["all"], recursive: true, permissions: 0o660),
        ], excludedFiles: [], excludedExtensions: [".tmp"])
        let m = "{\"mod_time\": 1.0, \"cluster_item_key\": \"etc/\", \"merged\": false, \"hash\": \"00\"}"
        let metadata = Array("{\"missing\": {\"etc/shared/x.conf\": \(m)}, \"extra\": {}, \"shared\": {}}".utf8)
        let package = try IntegrityHostilePackageTests.container([("etc/shared/x.conf", Array("x".utf8))], metadata: metadata)
        let dir = TemporaryDirectory()
        let home = TemporaryDirectory()
        let result = try PackageApplier(home: home.path, items: items).apply(packageFile: dir.write("package", package), budget: 1 << 20)
        #expect(result.created == ["etc/shared/x.conf"])
        var st = stat()
        #expect(stat(home.path + "/etc/shared/x.conf", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }
}
