import Common
import Foundation
import Testing

@Suite("Integrity scan")
struct IntegrityScanTests {
    /// A home with files of awkward sizes (empty, one byte, block boundaries, larger than the read buffer).
    private func makeSizedTree(_ dir: TemporaryDirectory) -> [String] {
        let sizes = [0, 1, 127, 128, 4095, 4096, 4097, 65_536, 131_071, 131_072, 300_000]
        var paths = ["etc/client.keys"]
        dir.write("etc/client.keys", randomBytes(777, seed: 1))
        for (i, size) in sizes.enumerated() {
            let path = "etc/shared/group\(i % 3)/file\(i).conf"
            dir.write(path, randomBytes(size, seed: UInt64(i + 10)))
            paths.append(path)
        }
        dir.write("etc/rules/local_rules.xml", "<group name=\"local,\"></group>\n")
        paths.append("etc/rules/local_rules.xml")
        return paths
    }

    @Test("every hash equals what b2sum prints")
    func hashesMatchB2sum() throws {
        let dir = TemporaryDirectory()
        let paths = makeSizedTree(dir)
        var cache = HashCache()
        let scan = IntegrityScanner(home: dir.path).scan(cache: &cache)
        #expect(scan.issues.isEmpty)
        #expect(Set(scan.metadata.paths) == Set(paths))

        let b2sum = try run("/usr/bin/b2sum", paths, directory: dir.path)
        #expect(b2sum.status == 0)
        var expected: [String: String] = [:]
        for line in b2sum.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            expected[String(parts[1].dropFirst())] = String(parts[0])  // "<hash>  <path>"
        }
        #expect(expected.count == paths.count)
        for (path, metadata) in scan.metadata {
            #expect(metadata.hash == expected[path], "hash of \(path)")
            #expect(metadata.hash.count == 128)
        }
    }

    @Test("single-threaded and parallel hashing agree")
    func concurrencyDoesNotChangeResults() {
        let dir = TemporaryDirectory()
        _ = makeSizedTree(dir)
        var c1 = HashCache(), c2 = HashCache()
        let one = IntegrityScanner(home: dir.path, concurrency: 1).scan(cache: &c1)
        let many = IntegrityScanner(home: dir.path, concurrency: 7).scan(cache: &c2)
        #expect(one.metadata == many.metadata)
    }

    @Test("walk rules: exclusions, non-recursive items, merged.mg at depth, missing directories")
    func walkRules() throws {
        let dir = TemporaryDirectory()
        let included = [
            "etc/client.keys",
            "etc/shared/default/agent.conf",
            "etc/shared/deep/a/b/c/notes.txt",
            "etc/shared/group.merged",
            "var/multigroups/abc/merged.mg",
            "var/multigroups/abc/def/ghi/merged.mg",
            "etc/rules/local_rules.xml",
            "etc/lists/sub/list.cdb",
        ]
        let excluded = [
            "etc/ossec.conf",                  // not in etc/'s files, and excluded
            "etc/other.txt",                   // etc/ takes client.keys only
            "etc/sub/client.keys",             // etc/ is not recursive
            "etc/shared/default/ar.conf",      // excluded_files
            "etc/shared/default/ossec.conf",   // excluded_files
            "etc/shared/default/a.swp", "etc/shared/default/b.tmp", "etc/shared/default/c~",
            "etc/shared/default/d.lock",       // excluded_extensions
            "var/multigroups/abc/other.txt",   // var/multigroups/ takes merged.mg only
            "var/multigroups/merged.mg.bak",
            "etc/rules.xml", "bin/client.keys",
        ]
        for path in included + excluded { dir.write(path, "content of \(path)\n") }
        // etc/decoders/ does not exist; a link to a directory is not entered; a link to a file counts.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/etc/rules/linked-dir",
                                                   withDestinationPath: dir.path + "/etc/shared")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/etc/rules/linked.xml",
                                                   withDestinationPath: dir.path + "/etc/rules/local_rules.xml")
        var cache = HashCache()
        let scan = IntegrityScanner(home: dir.path).scan(cache: &cache)
        #expect(scan.issues.isEmpty)
        #expect(Set(scan.metadata.paths) == Set(included + ["etc/rules/linked.xml"]))
        #expect(scan.metadata["etc/rules/linked.xml"]?.hash == scan.metadata["etc/rules/local_rules.xml"]?.hash)

        let keys: [String: String] = [
            "etc/client.keys": "etc/", "etc/shared/default/agent.conf": "etc/shared/",
            "var/multigroups/abc/def/ghi/merged.mg": "var/multigroups/", "etc/lists/sub/list.cdb": "etc/lists/",
        ]
        for (path, key) in keys { #expect(scan.metadata[path]?.clusterItemKey == key) }
        // Walk order: item order, and a directory's files before its subdirectories.
        #expect(scan.metadata.paths.first == "etc/client.keys")
        #expect(scan.metadata.paths.firstIndex(of: "etc/shared/group.merged")!
                < scan.metadata.paths.firstIndex(of: "etc/shared/default/agent.conf")!)
        // Only a basename containing ".merged" is merged (merged.mg is not).
        #expect(scan.metadata["var/multigroups/abc/merged.mg"]?.merged == false)
        let merged = try #require(scan.metadata["etc/shared/group.merged"])
        #expect(merged.merged && merged.mergeType == "TYPE" && merged.mergeName == dir.path + "/etc/shared/group.merged")
    }

    @Test("metadata JSON has the §5.2 keys, order and Python float text")
    func metadataJSON() throws {
        let dir = TemporaryDirectory()
        dir.write("etc/client.keys", "001 a any k\n")
        dir.write("etc/shared/x.merged", "m")
        var cache = HashCache()
        let scan = IntegrityScanner(home: dir.path).scan(cache: &cache)
        guard case .object(let top) = scan.metadata.json else { Issue.record("not an object"); return }
        #expect(top["etc/client.keys"]?.objectValue?.keys == ["mod_time", "cluster_item_key", "merged", "hash"])
        #expect(top["etc/shared/x.merged"]?.objectValue?.keys
                == ["mod_time", "cluster_item_key", "merged", "merge_type", "merge_name", "hash"])

        // mod_time as Python's os.path.getmtime, printed by json.dumps.
        let python = try run("/usr/bin/python3", ["-c", """
            import json, os, sys
            print(json.dumps(os.path.getmtime(sys.argv[1])))
            """, dir.path + "/etc/client.keys"])
        let text = String(decoding: scan.metadata.pythonJSONBytes, as: UTF8.self)
        let pythonMtime = python.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasPrefix("{\"etc/client.keys\": {\"mod_time\": \(pythonMtime), \"cluster_item_key\": \"etc/\", \"merged\": false, \"hash\": \""))
        // The parsed form round-trips.
        #expect(try IntegrityMetadata(jsonBytes: scan.metadata.pythonJSONBytes) == scan.metadata)
    }

    @Test("the cache skips files whose path, size, mtime and inode are unchanged")
    func cacheAvoidsRereading() throws {
        let dir = TemporaryDirectory()
        let a = dir.write("etc/shared/a.conf", "aaaa")
        dir.write("etc/shared/b.conf", "bbbb")
        let scanner = IntegrityScanner(home: dir.path)
        var cache = HashCache()
        let first = scanner.scan(cache: &cache)
        #expect(first.hashedCount == 2 && first.reusedCount == 0)

        // Same size, same mtime, same inode, new bytes: the cache must answer without reading.
        var st = stat()
        #expect(stat(a, &st) == 0)
        let fd = open(a, O_WRONLY)
        _ = "AAAA".withCString { write(fd, $0, 4) }
        close(fd)
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, a, &times, 0) == 0)
        let second = scanner.scan(cache: &cache)
        #expect(second.hashedCount == 0 && second.reusedCount == 2)
        #expect(second.metadata["etc/shared/a.conf"]?.hash == first.metadata["etc/shared/a.conf"]?.hash)

        // A new mtime makes it read again.
        times[1].tv_sec += 1
        #expect(utimensat(AT_FDCWD, a, &times, 0) == 0)
        let third = scanner.scan(cache: &cache)
        #expect(third.hashedCount == 1 && third.reusedCount == 1)
        #expect(third.metadata["etc/shared/a.conf"]?.hash == Blake2b.hexDigest(of: Array("AAAA".utf8)))

        // A file replaced by another (new inode) with the old size and mtime is read again too.
        let replacement = dir.write("etc/shared/a.new", "ZZZZ")
        #expect(utimensat(AT_FDCWD, replacement, &times, 0) == 0)
        #expect(rename(replacement, a) == 0)
        let fourth = scanner.scan(cache: &cache)
        #expect(fourth.hashedCount == 1)
        #expect(fourth.metadata["etc/shared/a.conf"]?.hash == Blake2b.hexDigest(of: Array("ZZZZ".utf8)))
    }

    @Test("unreadable files are reported and the scan goes on")
    func unreadableFiles() throws {
        let dir = TemporaryDirectory()
        dir.write("etc/shared/good.conf", "ok")
        dir.write("etc/rules/good.xml", "ok")
        // A symbolic link loop cannot be opened even by root (ELOOP); a dangling link has vanished.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/etc/shared/loop", withDestinationPath: "loop")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/etc/shared/gone", withDestinationPath: "nowhere")
        var unreadableByMode: [String] = []
        if getuid() != 0 {
            chmod(dir.write("etc/shared/secret.conf", "x"), 0)
            unreadableByMode = ["etc/shared/secret.conf"]
        }
        var cache = HashCache()
        let scan = IntegrityScanner(home: dir.path).scan(cache: &cache)
        #expect(Set(scan.metadata.paths) == ["etc/shared/good.conf", "etc/rules/good.xml"])
        let unreadable = scan.issues.filter { $0.kind == .unreadable }.map(\.path)
        #expect(Set(unreadable) == Set(["etc/shared/loop"] + unreadableByMode))
        #expect(scan.issues.contains { $0.kind == .vanished && $0.path == "etc/shared/gone" })
    }

    @Test("an empty or missing home gives no files and no errors")
    func emptyHome() {
        let dir = TemporaryDirectory()
        var cache = HashCache()
        let scan = IntegrityScanner(home: dir.path + "/does-not-exist").scan(cache: &cache)
        #expect(scan.metadata.isEmpty && scan.issues.isEmpty)
    }

    @Test("BLAKE2b-512 known answer")
    func blake2bKnownAnswer() {
        // RFC 7693 Appendix A: BLAKE2b-512("abc").
        #expect(Blake2b.hexDigest(of: Array("abc".utf8)) == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    }
}
