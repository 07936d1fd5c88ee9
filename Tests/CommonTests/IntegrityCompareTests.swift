import Common
import Foundation
import Testing

@Suite("Integrity compare and the diff command")
struct IntegrityCompareTests {
    /// A master and a worker home that differ in every way §5.5 distinguishes.
    private func makePair() -> (master: TemporaryDirectory, worker: TemporaryDirectory) {
        let master = TemporaryDirectory(), worker = TemporaryDirectory()
        for home in [master, worker] {
            home.write("etc/client.keys", "001 agent any key\n")                 // same
            home.write("etc/shared/default/agent.conf", "<agent_config/>\n")      // same
        }
        master.write("etc/rules/new_rules.xml", "<group/>\n")                     // missing on the worker
        master.write("var/multigroups/ab12/merged.mg", "#default\n")              // missing on the worker
        master.write("etc/shared/web/agent.conf", "master copy\n")                // shared (different)
        worker.write("etc/shared/web/agent.conf", "worker copy\n")
        worker.write("etc/decoders/old.xml", "<decoder/>\n")                      // extra
        worker.write("etc/shared/web/ossec.conf", "excluded, never seen\n")
        return (master, worker)
    }

    private func scan(_ home: TemporaryDirectory) -> IntegrityMetadata {
        var cache = HashCache()
        return IntegrityScanner(home: home.path).scan(cache: &cache).metadata
    }

    @Test("missing, extra and shared on a crafted pair of trees")
    func groups() throws {
        let (master, worker) = makePair()
        let m = scan(master), w = scan(worker)
        let diff = try IntegrityComparison.compare(master: m, worker: w)
        #expect(Set(diff.missing.paths) == ["etc/rules/new_rules.xml", "var/multigroups/ab12/merged.mg"])
        #expect(diff.extra.paths == ["etc/decoders/old.xml"])
        #expect(diff.shared.paths == ["etc/shared/web/agent.conf"])
        // Master wins: missing and shared carry the master's metadata, extra the worker's.
        #expect(diff.shared["etc/shared/web/agent.conf"] == m["etc/shared/web/agent.conf"])
        #expect(diff.extra["etc/decoders/old.xml"] == w["etc/decoders/old.xml"])
        #expect(diff.json.objectValue?.keys == ["missing", "extra", "shared"])
        #expect(try IntegrityComparison.compare(master: m, worker: m).isEmpty)
    }

    @Test("extra files of extra_valid items are dropped; an unknown item fails the comparison")
    func extraValidAndUnknownItems() throws {
        var items = ClusterItems.wazuh481
        items.items.append(ClusterItem(key: "etc/valid/", files: ["all"], recursive: true, permissions: 0o660, extraValid: true))
        let w = IntegrityMetadata([
            ("etc/valid/kept.conf", FileMetadata(modTime: 1, clusterItemKey: "etc/valid/", hash: "aa")),
            ("etc/rules/gone.xml", FileMetadata(modTime: 1, clusterItemKey: "etc/rules/", hash: "bb")),
        ])
        let diff = try IntegrityComparison.compare(master: IntegrityMetadata(), worker: w, items: items)
        #expect(diff.extra.paths == ["etc/rules/gone.xml"])
        #expect(throws: CompareError.unknownClusterItem(path: "etc/valid/kept.conf", key: "etc/valid/")) {
            try IntegrityComparison.compare(master: IntegrityMetadata(), worker: w)
        }
    }

    @Test("integrity-scan diff prints the groups and exits 0 / 1 / 2 like diff(1)")
    func diffTool() throws {
        let tool = TestPaths.tool("integrity-scan")
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the tool first: swift build")
        let (master, worker) = makePair()
        let out = TemporaryDirectory()
        let m = try run(tool, ["--home", master.path, "--json"])
        let w = try run(tool, ["--home", worker.path, "--json"])
        #expect(m.status == 0 && w.status == 0)
        out.write("m.json", m.stdout)
        out.write("w.json", w.stdout)

        let differ = try run(tool, ["diff", out.path + "/m.json", out.path + "/w.json"])
        #expect(differ.status == 1)
        #expect(differ.stdoutText.contains("missing: 2\n"))
        #expect(differ.stdoutText.contains("extra: 1\n  etc/decoders/old.xml\n"))
        #expect(differ.stdoutText.contains("shared: 1\n  etc/shared/web/agent.conf\n"))

        // --json is the master's groups object; the worker side from standard input.
        let asJSON = try run(tool, ["diff", out.path + "/m.json", "-", "--json"], stdin: w.stdout)
        #expect(asJSON.status == 1)
        let groups = try IntegrityDiff(json: try JSONParser.parse(asJSON.stdout))
        let expected = try IntegrityComparison.compare(master: try IntegrityMetadata(jsonBytes: m.stdout),
                                                       worker: try IntegrityMetadata(jsonBytes: w.stdout))
        #expect(groups == expected)

        let same = try run(tool, ["diff", "-", out.path + "/m.json"], stdin: m.stdout)
        #expect(same.status == 0)
        #expect(same.stdoutText == "missing: 0\nextra: 0\nshared: 0\n")

        #expect(try run(tool, ["diff", out.path + "/m.json", out.path + "/absent.json"]).status == 2)
        out.write("bad.json", "{not json")
        let bad = try run(tool, ["diff", out.path + "/m.json", out.path + "/bad.json"])
        #expect(bad.status == 2 && bad.stderr.contains("bad.json"))
        #expect(try run(tool, ["diff", out.path + "/m.json"]).status == 2)
        #expect(try run(tool, ["diff", "-", "-"]).status == 2)
    }

    @Test("diff accepts a worker's metadata package, e.g. one captured from Wazuh 4.8.1")
    func diffAgainstCapturedPackage() throws {
        let tool = TestPaths.tool("integrity-scan")
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the tool first: swift build")
        let package = TestPaths.fixturePath("worker-metadata-package-4.8.1.bin")
        let r = try run(tool, ["diff", package, package, "--json"])
        #expect(r.status == 0)
        #expect(r.stdoutText == "{\"missing\": {}, \"extra\": {}, \"shared\": {}}\n")
    }
}
