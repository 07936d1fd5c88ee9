@testable import ClusterNode
import Common
import Crypto
import Foundation
import Testing

/// `wazuh.rule`, `wazuh.decoder` and `wazuh.cdb_list` file functions.
@Suite struct DapiRulesetFunctionsTests {
    /// The capture's big list: 191,965 lines `10.a.b.c:blocked-NNNNNNN` (the head and tail the capture
    /// keeps, its length and SHA-256 fix the whole answer).
    static func bigList() -> String {
        var s = ""
        s.reserveCapacity(5_600_000)
        for i in 0..<191_965 {
            let n = String(i)
            s += "10.\(i >> 16).\((i >> 8) & 255).\(i & 255):blocked-\(String(repeating: "0", count: 7 - n.count))\(n)\n"
        }
        return s
    }

    @Test func getListFileRawMatchesTheCapturedBigList() async throws {
        let node = try DapiTestNode(node: "master-node", master: true, files: ["etc/lists/big-list": Self.bigList()])
        defer { node.remove() }
        let c = DapiFixtures.call("lists.get_list_file.big_raw")
        let squashed = try #require(c.record["raw_response"]?.objectValue)
        let got = try await node.run(try #require(c.request)).bytes
        #expect(got.count == Int(squashed["len"]?.intValue ?? -1))
        let digest = SHA256.hash(data: got).map { String(format: "%02x", $0) }.joined()
        #expect(digest == squashed["sha256"]?.stringValue)
        #expect(String(decoding: got.prefix(200), as: UTF8.self) == squashed["head"]?.stringValue.map { String($0.prefix(200)) })
    }

    @Test func getListFileParsedNotFoundAndBadFormat() async throws {
        let node = try DapiTestNode(files: ["etc/lists/blocked-ips": "10.0.0.1:blocked\n\"a:b\":\"x y\"\nkey:\n",
                                            "etc/lists/sub/bad": "no separator here\n"])
        defer { node.remove() }
        guard case .affected(let a) = try await node.run("wazuh.cdb_list", "get_list_file", ["filename": ["blocked-ips"]]) else {
            Issue.record("not affected"); return
        }
        #expect(a.allMsg == "CDB list was returned")
        expectJSON(a.affectedItems.first ?? .null, ["10.0.0.1": "blocked", "a:b": "x y", "key": ""], "parsed")
        guard case .affected(let b) = try await node.run("wazuh.cdb_list", "get_list_file", ["filename": ["nope"]]) else {
            Issue.record("not affected"); return
        }
        #expect(b.failedItems.map { $0.error.code } == [1802] && b.failedItems.first?.ids == ["nope"])
        guard case .affected(let c) = try await node.run("wazuh.cdb_list", "get_list_file", ["filename": ["bad"]]) else {
            Issue.record("not affected"); return
        }
        #expect(c.failedItems.first?.error.message == "Bad format in CDB list etc/lists/sub/bad")
    }

    @Test func getPathListsListsSourcesOnly() async throws {
        let node = try DapiTestNode(files: ["etc/lists/blocked-ips": "a:b\n", "etc/lists/blocked-ips.cdb": "x",
                                            "etc/lists/amazon/aws-eventnames": "a:b\n", "etc/lists/x.swp": "x"])
        defer { node.remove() }
        guard case .affected(let a) = try await node.run("wazuh.cdb_list", "get_path_lists", ["offset": 0, "limit": 500]) else {
            Issue.record("not affected"); return
        }
        #expect(a.affectedItems == [["filename": "blocked-ips", "relative_dirname": "etc/lists"],
                                    ["filename": "aws-eventnames", "relative_dirname": "etc/lists/amazon"]])
        #expect(a.allMsg == "All specified paths were returned")
    }

    @Test func listUploadAndDelete() async throws {
        let node = try DapiTestNode(node: "master-node", master: true)
        defer { node.remove() }
        func upload(_ name: String, _ content: String, overwrite: Bool = false) async throws -> AffectedItems? {
            if case .affected(let a) = try await node.run("wazuh.cdb_list", "upload_list_file",
                                                         ["filename": .string(name), "content": .string(content), "overwrite": .bool(overwrite)]) { return a }
            return nil
        }
        let ok = try #require(try await upload("new-list", "k:v\n"))
        #expect(ok.affectedItems == ["etc/lists/new-list"] && ok.allMsg == "CDB list file uploaded successfully")
        #expect(try String(contentsOfFile: node.home + "/etc/lists/new-list", encoding: .utf8) == "k:v\n")
        #expect(try await upload("new-list", "k:w\n")?.failedItems.map { $0.error.code } == [1905])
        #expect(try await upload("new-list", "k:w\n", overwrite: true)?.totalAffectedItems == 1)
        #expect(try String(contentsOfFile: node.home + "/etc/lists/new-list", encoding: .utf8) == "k:w\n")
        #expect(try await upload("empty", "")?.failedItems.map { $0.error.code } == [1112])
        #expect(try await upload("bad", "nothing\n")?.failedItems.map { $0.error.code } == [1800])
        #expect(try await upload("../escape", "k:v\n")?.failedItems.map { $0.error.code } == [1801])
        #expect(try await upload("a/b", "k:v\n")?.failedItems.map { $0.error.code } == [1801])
        #expect(!FileManager.default.fileExists(atPath: node.home + "/etc/escape"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: node.home + "/etc/lists")
        #expect(leftovers == ["new-list"], "no temporary files left")

        guard case .affected(let d) = try await node.run("wazuh.cdb_list", "delete_list_file", ["filename": ["new-list"]]) else {
            Issue.record("not affected"); return
        }
        #expect(d.affectedItems == ["etc/lists/new-list"] && d.allMsg == "CDB list file was successfully deleted")
        guard case .affected(let e) = try await node.run("wazuh.cdb_list", "delete_list_file", ["filename": ["new-list"]]) else {
            Issue.record("not affected"); return
        }
        #expect(e.failedItems.map { $0.error.code } == [1906] && e.failedItems.first?.ids == ["etc/lists/new-list"])
        #expect(e.noneMsg == "Could not delete CDB list file")
    }

    static let rule = "<group name=\"local,\">\n  <rule id=\"100001\" level=\"5\">\n    <description>x</description>\n  </rule>\n</group>\n"

    @Test(arguments: [("wazuh.rule", "rule", "etc/rules", "ruleset/rules", 1415), ("wazuh.decoder", "decoder", "etc/decoders", "ruleset/decoders", 1503)])
    func xmlFilesListReadUploadDelete(module: String, kind: String, user: String, def: String, notFound: Int) async throws {
        let node = try DapiTestNode(node: "master-node", master: true,
                                    files: ["\(user)/local.xml": Self.rule, "\(def)/0010-base.xml": Self.rule, "\(user)/notes.txt": "x"])
        defer { node.remove() }
        let plural = kind + "s"
        guard case .affected(let l) = try await node.run(module, "get_\(plural)_files", ["offset": 0, "limit": 500]) else {
            Issue.record("not affected"); return
        }
        #expect(l.affectedItems == [["filename": "0010-base.xml", "relative_dirname": .string(def), "status": "enabled"],
                                    ["filename": "local.xml", "relative_dirname": .string(user), "status": "enabled"]])
        #expect(l.allMsg == "All \(plural) files were returned")

        let raw = try await node.run(module, "get_\(kind)_file", ["filename": "local.xml", "raw": true])
        expectJSON(raw.json, ["__wazuh_result__": ["__class__": "WazuhResult",
                                                   "__object__": ["str_priority": nil, "result": ["message": .string(Self.rule)]]]], "raw")
        guard case .affected(let nf) = try await node.run(module, "get_\(kind)_file", ["filename": "none.xml", "raw": true]) else {
            Issue.record("not affected"); return
        }
        #expect(nf.failedItems.map { $0.error.code } == [notFound])

        func upload(_ name: String, _ content: String, overwrite: Bool = false) async throws -> AffectedItems? {
            if case .affected(let a) = try await node.run(module, "upload_\(kind)_file",
                                                         ["filename": .string(name), "content": .string(content), "overwrite": .bool(overwrite)]) { return a }
            return nil
        }
        let up = try #require(try await upload("new.xml", Self.rule))
        #expect(up.affectedItems == [.string("\(user)/new.xml")])
        #expect(up.allMsg == (kind == "rule" ? "Rule was successfully uploaded" : "Decoder was successfully uploaded"))
        #expect(try await upload("new.xml", Self.rule)?.failedItems.map { $0.error.code } == [1905])
        #expect(try await upload("new.xml", "<group><rule></group>", overwrite: true)?.failedItems.map { $0.error.code } == [1113])
        #expect(try String(contentsOfFile: node.home + "/\(user)/new.xml", encoding: .utf8) == Self.rule, "a refused upload leaves the file")
        #expect(try await upload("empty.xml", "")?.failedItems.map { $0.error.code } == [1112])
        #expect(try await upload("rules.txt", Self.rule)?.failedItems.map { $0.error.code } == [1801])
        #expect(try await upload("../x.xml", Self.rule)?.failedItems.map { $0.error.code } == [1801])
        #expect(try await upload("new.xml", "<a/>\n<b x='1'>t</b>", overwrite: true)?.totalAffectedItems == 1)

        guard case .affected(let d) = try await node.run(module, "delete_\(kind)_file", ["filename": ["new.xml"]]) else {
            Issue.record("not affected"); return
        }
        #expect(d.affectedItems == [.string("\(user)/new.xml")])
        #expect(d.allMsg == (kind == "rule" ? "Rule was successfully deleted" : "Decoder file was successfully deleted"))
        #expect(!FileManager.default.fileExists(atPath: node.home + "/\(user)/new.xml"))
        guard case .affected(let d2) = try await node.run(module, "delete_\(kind)_file", ["filename": ["new.xml"]]) else {
            Issue.record("not affected"); return
        }
        #expect(d2.failedItems.map { $0.error.code } == [1906])
        guard case .affected(let d3) = try await node.run(module, "delete_\(kind)_file", ["filename": ["0010-base.xml"]]) else {
            Issue.record("not affected"); return
        }
        #expect(d3.failedItems.map { $0.error.code } == [1906], "default ruleset files are not the user's to delete")
    }
}
