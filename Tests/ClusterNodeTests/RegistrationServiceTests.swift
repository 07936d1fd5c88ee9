@testable import ClusterNode
@testable import Common
import Foundation
import Testing

/// The master's built-in registration service: group commits answer every request as if each ran alone.
@Suite struct RegistrationServiceTests {
    static func add(_ name: String, ip: String = "any", groups: String? = nil) -> [UInt8] {
        var arguments = JSONObject([("name", .string(name)), ("ip", .string(ip))])
        if let groups { arguments["groups"] = .string(groups) }
        return Array(JSONValue.object(JSONObject([("function", "add"), ("arguments", .object(arguments))])).compactText.utf8)
    }

    static func ints(_ node: DapiMasterTestNode, _ sql: String) throws -> [Int] {
        try node.store.reading { (db: SQLiteConnection) throws(StoreError) in try db.ints(sql) }
    }

    static func remove(_ id: String) -> [UInt8] {
        Array(#"{"function":"remove","arguments":{"id":"\#(id)"}}"#.utf8)
    }

    /// Many requests at once, duplicates among them: every distinct name gets one id, each duplicate is
    /// refused, client.keys and the database hold exactly the registered agents, ids have no gaps.
    @Test func concurrentRegistrationsAreCommittedTogetherAndStayConsistent() async throws {
        let node = try DapiMasterTestNode()
        let service = RegistrationService(ctx: node.ctx, store: node.store)
        let names = (1...300).map { String(format: "agent-%04d", $0) }
        // Every 10th name is asked for twice, and ten requests share one IP.
        var requests = names.map { Self.add($0) }
        requests += stride(from: 0, to: 300, by: 10).map { Self.add(names[$0]) }
        requests += (0..<10).map { Self.add("ip-agent-\($0)", ip: "10.0.0.7") }
        requests.shuffle()
        let answers = await withTaskGroup(of: JSONValue?.self) { group in
            for r in requests { group.addTask { try? JSONParser.parse(Array(await service.handle(r).utf8)) } }
            var all: [JSONValue?] = []
            for await a in group { all.append(a) }
            return all
        }
        let ok = answers.compactMap { $0 }.filter { $0["error"]?.intValue == 0 }
        let duplicateNames = answers.compactMap { $0 }.filter { $0["error"]?.intValue == 9008 }
        let duplicateIPs = answers.compactMap { $0 }.filter { $0["error"]?.intValue == 9007 }
        #expect(answers.count == requests.count && answers.allSatisfy { $0 != nil })
        #expect(ok.count == 301, "each name once, one of the ten sharing an address")
        #expect(duplicateNames.count == 30 && duplicateIPs.count == 9)
        let ids = ok.compactMap { $0["data"]?["id"]?.stringValue }.compactMap { Int($0) }.sorted()
        #expect(ids == Array(1...301))
        let keys = ClientKeys.parse(try String(contentsOfFile: node.home + "/etc/client.keys", encoding: .utf8))
        #expect(keys.count == 301)
        #expect(Dictionary(uniqueKeysWithValues: keys.map { ($0.id, $0.key) })
                == Dictionary(uniqueKeysWithValues: ok.map { (Int($0["data"]!["id"]!.stringValue!)!, $0["data"]!["key"]!.stringValue!) }))
        #expect(try Self.ints(node, "SELECT id FROM agent WHERE id > 0 ORDER BY id") == ids)
        for k in keys {
            #expect(try node.store.reading { (db: SQLiteConnection) throws(StoreError) in
                try db.text("SELECT name FROM agent WHERE id = ?", [.int(Int64(k.id))]) } == k.name)
        }
    }

    /// A remove between adds of one commit sees the adds before it, and the adds after it see the remove.
    @Test func removeAndAddInOrder() async throws {
        let node = try DapiMasterTestNode()
        let service = RegistrationService(ctx: node.ctx, store: node.store)
        let first = try JSONParser.parse(Array(await service.handle(Self.add("one")).utf8))
        #expect(first["data"]?["id"] == "001")
        #expect(try JSONParser.parse(Array(await service.handle(Self.remove("001")).utf8))["error"] == 0)
        #expect(try JSONParser.parse(Array(await service.handle(Self.remove("001")).utf8))["error"] == 9011)
        let again = try JSONParser.parse(Array(await service.handle(Self.add("one")).utf8))
        #expect(again["error"] == 0, "the name is free again after its removal")
        let keys = ClientKeys.parse(try String(contentsOfFile: node.home + "/etc/client.keys", encoding: .utf8))
        #expect(keys.map(\.name) == ["one"])
        #expect(try Self.ints(node, "SELECT count(*) FROM agent WHERE id > 0") == [1])
    }

    /// client.keys that cannot be written: every request of the commit fails, and no row is left behind.
    @Test func aFileThatCannotBeWrittenLeavesNoRow() async throws {
        let node = try DapiMasterTestNode()
        let service = RegistrationService(ctx: node.ctx, store: node.store)
        // A directory where the staged file goes makes the write fail.
        try FileManager.default.createDirectory(atPath: node.home + "/etc/client.keys.clusterd.tmp", withIntermediateDirectories: true)
        let answer = try JSONParser.parse(Array(await service.handle(Self.add("lost")).utf8))
        #expect(answer["error"] == 9001)
        #expect(try Self.ints(node, "SELECT count(*) FROM agent WHERE id > 0") == [0])
        #expect(!FileManager.default.fileExists(atPath: node.home + "/etc/client.keys"))
        try FileManager.default.removeItem(atPath: node.home + "/etc/client.keys.clusterd.tmp")
        #expect(try JSONParser.parse(Array(await service.handle(Self.add("lost")).utf8))["error"] == 0)
    }

    /// An operator's edit of client.keys between registrations is respected (ids and names).
    @Test func anEditedKeysFileIsReadAgain() async throws {
        let node = try DapiMasterTestNode()
        let service = RegistrationService(ctx: node.ctx, store: node.store)
        _ = await service.handle(Self.add("one"))
        let path = node.home + "/etc/client.keys"
        let text = try String(contentsOfFile: path, encoding: .utf8) + "040 manual any \(String(repeating: "a", count: 64))\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try JSONParser.parse(Array(await service.handle(Self.add("manual")).utf8))["error"] == 9008)
        #expect(try JSONParser.parse(Array(await service.handle(Self.add("two")).utf8))["data"]?["id"] == "041")
    }
}
