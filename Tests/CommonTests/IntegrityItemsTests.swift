import Common
import Testing

@Suite("Integrity cluster items")
struct IntegrityItemsTests {
    @Test("the stock 4.8.1 table")
    func stockTable() throws {
        let items = ClusterItems.wazuh481
        #expect(items.items.map(\.key) == ["etc/", "etc/shared/", "var/multigroups/", "etc/rules/", "etc/decoders/", "etc/lists/"])
        let etc = try #require(items["etc/"])
        #expect(etc.files == ["client.keys"] && !etc.recursive && etc.permissions == 0o640 && !etc.removeSubdirsIfEmpty)
        let shared = try #require(items["etc/shared/"])
        #expect(shared.takesAllFiles && shared.recursive && shared.permissions == 0o660 && shared.removeSubdirsIfEmpty)
        let multigroups = try #require(items["var/multigroups/"])
        #expect(multigroups.files == ["merged.mg"] && multigroups.recursive && multigroups.removeSubdirsIfEmpty)
        for key in ["etc/rules/", "etc/decoders/", "etc/lists/"] {
            let item = try #require(items[key])
            #expect(item.takesAllFiles && item.recursive && item.restart && !item.removeSubdirsIfEmpty)
        }
        #expect(items.items.allSatisfy { !$0.extraValid })
        #expect(items.excludedFiles == ["ar.conf", "ossec.conf"])
        #expect(items.excludedExtensions == ["~", ".tmp", ".lock", ".swp"])
    }

    @Test("a JSON file of the same shape replaces the items; permissions parse like Python int(s, 0)")
    func override() throws {
        let text = """
            {"files": {
              "etc/custom/": {"files": ["all"], "recursive": true, "permissions": "0o600", "extra_valid": true},
              "etc/": {"files": ["client.keys", "extra.keys"], "recursive": false, "permissions": 416},
              "excluded_files": ["skip.me"], "excluded_extensions": [".bak"]
            }, "intervals": {}}
            """
        let items = try ClusterItems(json: try JSONParser.parse(text))
        #expect(items.items.map(\.key) == ["etc/custom/", "etc/"])
        #expect(items["etc/custom/"]?.permissions == 0o600 && items["etc/custom/"]?.extraValid == true)
        #expect(items["etc/"]?.permissions == 0o640)
        #expect(items.excludedFiles == ["skip.me"] && items.excludedExtensions == [".bak"])
        // The section written back reads the same.
        #expect(try ClusterItems(json: items.json) == items)
        #expect(try ClusterItems(json: ClusterItems.wazuh481.json) == .wazuh481)

        for good in ["0o660", "0O660", "432", "0x1b0", "0b110110000", "0o6_60"] {
            let t = "{\"etc/x/\": {\"files\": [\"all\"], \"permissions\": \"\(good)\"}}"
            #expect(try ClusterItems(json: try JSONParser.parse(t)).items[0].permissions == 0o660, "\(good)")
        }
        for bad in ["0660", "rw-", "", "0o", "0o8", "99999"] {
            let t = "{\"etc/x/\": {\"files\": [\"all\"], \"permissions\": \"\(bad)\"}}"
            #expect(throws: ClusterItemsError.self, "\(bad)") { try ClusterItems(json: try JSONParser.parse(t)) }
        }
        let badKeys = ["{\"/etc/\": {\"files\": [\"all\"]}}", "{\"etc/../x/\": {\"files\": [\"all\"]}}",
                       "{\"etc\": {\"files\": [\"all\"]}}", "{\"etc/\": {}}", "[]"]
        for bad in badKeys {
            #expect(throws: ClusterItemsError.self, "\(bad)") { try ClusterItems(json: try JSONParser.parse(bad)) }
        }
    }

    @Test("path ownership follows the walk rules")
    func ownership() {
        let items = ClusterItems.wazuh481
        func owner(_ p: String) -> String? { try? items.owner(of: p).get().key }
        #expect(owner("etc/client.keys") == "etc/")
        #expect(owner("etc/shared/default/agent.conf") == "etc/shared/")
        #expect(owner("var/multigroups/a/b/merged.mg") == "var/multigroups/")
        #expect(owner("etc/lists/amazon/aws-eventnames") == "etc/lists/")
        #expect(items.owner(of: "etc/passwd") == .failure(.outsideItems))
        #expect(items.owner(of: "etc/sub/client.keys") == .failure(.outsideItems))
        #expect(items.owner(of: "var/multigroups/a/other") == .failure(.outsideItems))
        #expect(items.owner(of: "etc/shared/") == .failure(.unsafe("empty path component")))
        #expect(items.owner(of: "etc/shared/default/ar.conf") == .failure(.excluded))
        #expect(items.owner(of: "etc/rules/x.xml.swp") == .failure(.excluded))
        #expect(items.owner(of: "/etc/client.keys") == .failure(.unsafe("absolute path")))
        #expect(items.owner(of: "etc/shared/../client.keys") == .failure(.unsafe("'..' component")))
        #expect(items.owner(of: "etc/client.keys", declaredKey: "etc/shared/") == .failure(.notInItem("etc/shared/")))
        #expect(items.owner(of: "etc/client.keys", declaredKey: "bin/") == .failure(.unknownItem("bin/")))
    }
}
