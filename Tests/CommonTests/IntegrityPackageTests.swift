import Common
import Foundation
import Testing

@Suite("Integrity packages")
struct IntegrityPackageTests {
    private func makeHome() -> (TemporaryDirectory, IntegrityMetadata) {
        let home = TemporaryDirectory()
        home.write("etc/client.keys", "001 agent-1 any 0123456789abcdef\n")
        home.write("etc/shared/default/agent.conf", "<agent_config>\n</agent_config>\n")
        home.write("etc/shared/default/big.bin", randomBytes(200_000, seed: 7))
        home.write("etc/shared/default/empty.txt", [])
        home.write("etc/rules/local_rules.xml", String(repeating: "<rule/>\n", count: 5000))
        home.write("var/multigroups/a1/merged.mg", "#a1\n")
        var cache = HashCache()
        return (home, IntegrityScanner(home: home.path).scan(cache: &cache).metadata)
    }

    @Test("pack then unpack restores identical bytes", arguments: PackageFormat.allCases)
    func roundTrip(format: PackageFormat) throws {
        let (home, metadata) = makeHome()
        let build = try PackageWriter(format: format, home: home.path).syncPackage(IntegrityDiff(missing: metadata))
        #expect(build.skipped.isEmpty)
        #expect(build.included == metadata.paths)
        #expect(PackageFormat.detect(build.bytes) == format)

        let target = TemporaryDirectory()
        let package = try PackageExtractor().extract(build.bytes, into: target.path)
        #expect(package.format == format)
        #expect(package.metadata == .sync(IntegrityDiff(missing: metadata)))
        for path in metadata.paths {
            #expect(target.read(path) == home.read(path), "content of \(path)")
        }
        #expect(target.read("files_metadata.json") == build.metadataBytes)
        #expect(String(decoding: build.metadataBytes, as: UTF8.self) == IntegrityDiff(missing: metadata).json.pythonText)
        // The item permissions are applied, as the receiving worker does.
        var st = stat()
        #expect(stat(target.path + "/etc/client.keys", &st) == 0 && st.st_mode & 0o777 == 0o640)

        // A worker's metadata-only package.
        let workerBuild = try PackageWriter(format: format, home: home.path).metadataPackage(metadata)
        let workerPackage = try PackageReader().read(workerBuild.bytes)
        #expect(workerPackage.files.isEmpty && workerPackage.metadata == .node(metadata))
    }

    @Test("a zip package passes unzip -t and lists its entries")
    func zipPassesUnzip() throws {
        let (home, metadata) = makeHome()
        let build = try PackageWriter(format: .zip, home: home.path).syncPackage(IntegrityDiff(missing: metadata))
        let dir = TemporaryDirectory()
        dir.write("package.zip", build.bytes)
        let test = try run("/usr/bin/unzip", ["-t", dir.path + "/package.zip"])
        #expect(test.status == 0, "\(test.stdoutText)")
        #expect(test.stdoutText.contains("No errors detected"))
        let list = try run("/usr/bin/unzip", ["-Z1", dir.path + "/package.zip"])
        #expect(list.stdoutText.split(separator: "\n").map(String.init) == metadata.paths + ["files_metadata.json"])
    }

    @Test("a 4.8.1 package splits and inflates with Python as the Wazuh reader does")
    func containerReadableByPython() throws {
        let (home, metadata) = makeHome()
        let build = try PackageWriter(format: .wazuh, home: home.path).syncPackage(IntegrityDiff(missing: metadata))
        let dir = TemporaryDirectory()
        dir.write("package.bin", build.bytes)
        let script = """
            import sys, zlib, hashlib, json
            data = open(sys.argv[1], 'rb').read()
            for piece in data.split(b'|@@//@@|'):
                name, body = piece.split(b'|//@@//|', 1)
                content = zlib.decompress(body)
                assert zlib.compress(content, 1) == body, name
                print(name.decode(), hashlib.blake2b(content).hexdigest())
            """
        let r = try run("/usr/bin/python3", ["-c", script, dir.path + "/package.bin"])
        #expect(r.status == 0, "\(r.stderr)")
        var expected = metadata.paths.map { "\($0) \(metadata[$0]!.hash)" }
        expected.append("files_metadata.json \(Blake2b.hexDigest(of: build.metadataBytes))")
        #expect(r.stdoutText.split(separator: "\n").map(String.init) == expected)
    }

    /// Obtained with a small python3 script from the session-1 capture
    /// (`/work/shared/fixtures/wazuh-4.8.1/session1-fresh-worker.conn1.expected.jsonl`): the `plain`
    /// field (Latin-1) of the s2c `file_upd` at counter 1577140846, split at the first space; the bytes
    /// after it are the master's package. The c2s `file_upd` at counter 2060760128 gives the worker's.
    @Test("the 4.8.1 master package from the capture unpacks to the files it carries")
    func capturedMasterPackage() throws {
        let bytes = try TestPaths.fixture("master-package-4.8.1.bin")
        #expect(PackageFormat.detect(bytes) == .wazuh)
        let target = TemporaryDirectory()
        let package = try PackageExtractor().extract(bytes, into: target.path)
        #expect(package.files.map(\.path) == ["etc/client.keys", "etc/shared/webservers/agent.conf", "etc/rules/peer_test_rules.xml"])
        guard case .sync(let groups) = package.metadata else { Issue.record("expected sync groups"); return }
        #expect(groups.missing.paths == ["etc/shared/webservers/agent.conf", "etc/rules/peer_test_rules.xml"])
        #expect(groups.shared.paths == ["etc/client.keys"] && groups.extra.isEmpty)
        // Each extracted file hashes to what the Wazuh master wrote in the metadata.
        for path in package.files.map(\.path) {
            let expected = groups.missing[path]?.hash ?? groups.shared[path]?.hash
            #expect(Blake2b.hexDigest(of: try #require(target.read(path))) == expected, "\(path)")
        }
        #expect(String(decoding: target.read("etc/shared/webservers/agent.conf")!, as: UTF8.self).hasPrefix("<agent_config>"))
        #expect(String(decoding: target.read("etc/client.keys")!, as: UTF8.self).hasPrefix("001 agent-00001 any "))
        #expect(Set(target.listing()) == ["etc", "etc/client.keys", "etc/shared", "etc/shared/webservers",
                                          "etc/shared/webservers/agent.conf", "etc/rules",
                                          "etc/rules/peer_test_rules.xml", "files_metadata.json"])
    }

    @Test("the 4.8.1 worker metadata package from the capture parses")
    func capturedWorkerPackage() throws {
        let package = try PackageReader().read(try TestPaths.fixture("worker-metadata-package-4.8.1.bin"))
        #expect(package.files.isEmpty)
        guard case .node(let metadata) = package.metadata else { Issue.record("expected node metadata"); return }
        #expect(metadata.paths == ["etc/client.keys", "etc/shared/default/agent.conf"])
        let keys = try #require(metadata["etc/client.keys"])
        #expect(keys.clusterItemKey == "etc/" && !keys.merged && keys.modTime == 1795720748.2934575)
        #expect(keys.hash == "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce")
        // Our re-encoding of it is the text the Wazuh worker sent.
        #expect(metadata.pythonJSONBytes == package.metadataBytes)
    }

    @Test("size limits: too-large files skipped, the rest left for later, metadata adjusted", arguments: PackageFormat.allCases)
    func sizeLimits(format: PackageFormat) throws {
        let home = TemporaryDirectory()
        let big = randomBytes(50_000, seed: 3)           // incompressible
        home.write("etc/rules/a.xml", randomBytes(20_000, seed: 4))
        home.write("etc/rules/huge.xml", randomBytes(70_000, seed: 5))
        home.write("etc/rules/b.xml", big)
        home.write("etc/rules/c.xml", "small\n")
        home.write("etc/shared/s.conf", "shared\n")
        var cache = HashCache()
        let all = IntegrityScanner(home: home.path).scan(cache: &cache).metadata
        var missing = IntegrityMetadata(), shared = IntegrityMetadata()
        for path in ["etc/rules/a.xml", "etc/rules/huge.xml", "etc/rules/b.xml", "etc/rules/c.xml"] { missing[path] = all[path] }
        shared["etc/shared/s.conf"] = all["etc/shared/s.conf"]
        shared["etc/shared/deleted.conf"] = FileMetadata(modTime: 1, clusterItemKey: "etc/shared/", hash: "00")

        // 60 000 bytes: a.xml fits, huge.xml exceeds the limit by itself (skipped, packing goes on),
        // b.xml would take the total past the limit: it and everything after wait for a later round.
        let build = try PackageWriter(format: format, home: home.path, limit: 60_000)
            .syncPackage(IntegrityDiff(missing: missing, shared: shared))
        #expect(build.included == ["etc/rules/a.xml"])
        #expect(build.skipped.map(\.path) == ["etc/rules/huge.xml", "etc/rules/b.xml", "etc/rules/c.xml",
                                              "etc/shared/s.conf", "etc/shared/deleted.conf"])
        #expect(build.skipped[0].reason == .tooLarge(size: 70_000, limit: 60_000))
        #expect(build.skipped[1].reason == .limitReached && build.limitReached)
        let groups = try #require(build.diff)
        #expect(groups.missing.paths == ["etc/rules/a.xml"])
        #expect(groups.shared.isEmpty && groups.extra.isEmpty)
        let read = try PackageReader().read(build.bytes)
        #expect(read.metadata == .sync(groups))

        // With room for everything, an unreadable shared file moves to extra so the worker deletes it.
        let roomy = try PackageWriter(format: format, home: home.path, limit: 1_000_000)
            .syncPackage(IntegrityDiff(missing: missing, shared: shared))
        #expect(roomy.included == ["etc/rules/a.xml", "etc/rules/huge.xml", "etc/rules/b.xml", "etc/rules/c.xml", "etc/shared/s.conf"])
        #expect(roomy.diff?.extra.paths == ["etc/shared/deleted.conf"])
        #expect(roomy.diff?.shared.paths == ["etc/shared/s.conf"])
        if case .unreadable = roomy.skipped.first?.reason {} else { Issue.record("expected unreadable, got \(roomy.skipped)") }
    }

    @Test("the writer refuses paths a reader would refuse")
    func writerChecksPaths() throws {
        let home = TemporaryDirectory()
        home.write("etc/passwd", "root:x:0:0\n")
        home.write("etc/shared/ossec.conf", "<ossec_config/>\n")
        let cases: [(String, String, PackageError)] = [
            ("etc/passwd", "etc/", .wrongClusterItem(path: "etc/passwd", key: "etc/")),
            ("etc/shared/ossec.conf", "etc/shared/", .excludedFile("etc/shared/ossec.conf")),
            ("etc/shared/../passwd", "etc/shared/", .unsafePath("etc/shared/../passwd", reason: "'..' component")),
            ("bin/wazuh-clusterd", "bin/", .wrongClusterItem(path: "bin/wazuh-clusterd", key: "bin/")),
        ]
        for (path, key, expected) in cases {
            let diff = IntegrityDiff(missing: IntegrityMetadata([(path, FileMetadata(modTime: 0, clusterItemKey: key, hash: "00"))]))
            for format in PackageFormat.allCases {
                #expect(throws: expected) { try PackageWriter(format: format, home: home.path).syncPackage(diff) }
            }
        }
    }

    @Test("a compressed entry that would contain a separator is re-encoded, never mis-split")
    func separatorClash() throws {
        // Stored (level 0) deflate keeps the bytes as they are, so a file holding FILE_SEP clashes at
        // level 0; the writer must fall back to a level whose output does not contain it.
        let home = TemporaryDirectory()
        home.write("etc/rules/sep.xml", "before|@@//@@|middle|//@@//|after")
        var cache = HashCache()
        let metadata = IntegrityScanner(home: home.path).scan(cache: &cache).metadata
        let build = try PackageWriter(format: .wazuh, home: home.path, compressLevel: 0)
            .syncPackage(IntegrityDiff(missing: metadata))
        #expect(build.included == ["etc/rules/sep.xml"])
        let package = try PackageReader().read(build.bytes)
        #expect(package.files.first?.content == Array("before|@@//@@|middle|//@@//|after".utf8))
    }
}
