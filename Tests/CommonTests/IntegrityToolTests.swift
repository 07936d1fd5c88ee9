import Common
import Foundation
import Testing

/// The `integrity-scan` binary end to end (built by `swift build --build-tests` with the tests).
@Suite("integrity-scan tool")
struct IntegrityToolTests {
    private var tool: String { TestPaths.tool("integrity-scan") }

    private func makeHome() -> TemporaryDirectory {
        let home = TemporaryDirectory()
        home.write("etc/client.keys", "001 agent any key\n")
        home.write("etc/shared/default/agent.conf", "<agent_config/>\n")
        home.write("etc/rules/local_rules.xml", randomBytes(30_000, seed: 11))
        home.write("var/multigroups/g1/merged.mg", "#g1\n")
        return home
    }

    @Test("scan prints b2sum lines, the worker's JSON object, or JSON Lines")
    func scanOutputs() throws {
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the tool first: swift build")
        let home = makeHome()
        var cache = HashCache()
        let metadata = IntegrityScanner(home: home.path).scan(cache: &cache).metadata

        let plain = try run(tool, ["--home", home.path])
        #expect(plain.status == 0)
        #expect(plain.stdoutText == metadata.map { "\($0.metadata.hash)  \($0.path)\n" }.joined())
        let check = try run("/usr/bin/b2sum", ["-c"], stdin: plain.stdout, directory: home.path)
        #expect(check.status == 0)

        let json = try run(tool, ["scan", "--home", home.path, "--json"])
        #expect(json.stdout == metadata.pythonJSONBytes + [0x0A])

        let lines = try run(tool, ["--home", home.path, "--jsonl"])
        let objects = try lines.stdoutText.split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(objects.map { $0["path"]?.stringValue } == metadata.paths)
        #expect(objects.first?.objectValue?.keys == ["path", "mod_time", "cluster_item_key", "merged", "hash"])

        #expect(try run(tool, ["--home", home.path + "/absent"]).status == 2)
        #expect(try run(tool, ["--home", home.path, "--json", "--jsonl"]).status == 2)
    }

    @Test("pack then unpack through the tool restores identical bytes", arguments: PackageFormat.allCases)
    func packUnpack(format: PackageFormat) throws {
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the tool first: swift build")
        let home = makeHome()
        let work = TemporaryDirectory()
        let paths = ["etc/client.keys", "etc/rules/local_rules.xml", "var/multigroups/g1/merged.mg"]
        let pack = try run(tool, ["pack", "--home", home.path, "--format", format.rawValue,
                                  "-o", work.path + "/pkg"] + paths)
        #expect(pack.status == 0, "\(pack.stderr)")
        let list = try run(tool, ["unpack", work.path + "/pkg", "--list"])
        #expect(list.status == 0)
        #expect(list.stdoutText.hasPrefix("\(format.rawValue) package, 3 files, missing 3, extra 0, shared 0\n"))
        let unpack = try run(tool, ["unpack", work.path + "/pkg", "-C", work.path + "/out"])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        for path in paths { #expect(work.read("out/" + path) == home.read(path), "\(path)") }

        // A worker's metadata-only package feeds diff directly.
        #expect(try run(tool, ["pack", "--home", home.path, "--format", format.rawValue, "--metadata-only",
                               "-o", work.path + "/meta"]).status == 0)
        #expect(try run(tool, ["--home", home.path, "--json"]).status == 0)
        let same = try run(tool, ["diff", work.path + "/meta", work.path + "/meta"])
        #expect(same.status == 0)

        // A limit of 31 000 bytes: local_rules.xml (30 000 random bytes) fits, huge.xml is larger than the
        // limit by itself, big.conf no longer fits, and client.keys after it waits for a later round too.
        home.write("etc/rules/huge.xml", randomBytes(40_000, seed: 12))
        home.write("etc/shared/default/big.conf", randomBytes(5_000, seed: 13))
        let small = try run(tool, ["pack", "--home", home.path, "--format", format.rawValue, "--max-size", "31000",
                                   "-o", work.path + "/small", "etc/rules/local_rules.xml", "etc/rules/huge.xml",
                                   "etc/shared/default/big.conf", "etc/client.keys"])
        #expect(small.status == 0)
        #expect(small.stderr.contains("Maximum zip size exceeded"))
        #expect(small.stderr.contains("File too large to be synced: etc/rules/huge.xml"))
        let smallList = try run(tool, ["unpack", work.path + "/small", "--list"])
        #expect(smallList.stdoutText.hasPrefix("\(format.rawValue) package, 1 file, missing 1, extra 0, shared 0\n"))

        // Paths outside the cluster items are refused.
        let outside = try run(tool, ["pack", "--home", home.path, "-o", work.path + "/x", "etc/ossec.conf"])
        #expect(outside.status == 2 && outside.stderr.contains("etc/ossec.conf"))
    }

    @Test("unpack lists and extracts the package captured from Wazuh 4.8.1, and refuses a hostile one")
    func unpackCaptured() throws {
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the tool first: swift build")
        let fixture = TestPaths.fixturePath("master-package-4.8.1.bin")
        let list = try run(tool, ["unpack", fixture, "--list"])
        #expect(list.status == 0)
        #expect(list.stdoutText == """
            wazuh package, 3 files, missing 2, extra 0, shared 1
                   680  etc/client.keys
                    96  etc/shared/webservers/agent.conf
                   150  etc/rules/peer_test_rules.xml
                   796  files_metadata.json

            """)
        let work = TemporaryDirectory()
        let fromStdin = try run(tool, ["unpack", "-", "-C", work.path + "/out"], stdin: try TestPaths.fixture("master-package-4.8.1.bin"))
        #expect(fromStdin.status == 0)
        #expect(work.read("out/etc/rules/peer_test_rules.xml").map { String(decoding: $0, as: UTF8.self) }?.contains("100001") == true)

        let metadata = try run(tool, ["unpack", fixture, "--metadata"])
        #expect(try IntegrityDiff(json: try JSONParser.parse(metadata.stdout)).shared.paths == ["etc/client.keys"])

        let hostile = try IntegrityHostilePackageTests.container([("etc/shared/../../escape", Array("x".utf8))])
        work.write("hostile.bin", hostile)
        let refused = try run(tool, ["unpack", work.path + "/hostile.bin", "-C", work.path + "/target"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("'..' component"))
        #expect(work.listing("target").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: work.path + "/escape"))
    }
}
