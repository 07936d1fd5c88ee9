import Crypto
import Foundation
import Testing
@testable import Common

/// Helpers shared by the Store* suites.
enum StoreTest {
    static func dbPath(_ dir: TemporaryDirectory) -> String { dir.path + "/queue/db/global.db" }

    /// A new store under `dir` with agents `ids` registered (names agent-00001…, group "default").
    static func store(_ dir: TemporaryDirectory, node: String = "master-node", agents ids: [Int] = []) throws -> AgentStore {
        let store = try AgentStore(path: dbPath(dir), nodeName: node)
        for id in ids {
            try store.insertAgent(id: id, name: String(format: "agent-%05d", id), ip: "any", key: "key\(id)",
                                  groups: ["default"], groupSyncStatus: "synced", dateAdd: 1_700_000_000)
        }
        return store
    }

    /// The Store suites' large store: `count` agents loaded as client.keys (agent-<id>, 10.0.x.y, 64-byte
    /// keys), then their groups, `groups(id)`, set by one override `set-agent-groups` with `syncStatus`.
    @discardableResult
    static func largeStore(_ dir: TemporaryDirectory, count: Int, syncStatus: String = "synced",
                           groups: (Int) -> [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> AgentStore {
        let store = try store(dir)
        let entries = (1...count).map { (id: $0, name: "agent-\($0)", ip: "10.0.\($0 / 256).\($0 % 256)", key: String(repeating: "k", count: 64)) }
        #expect(try store.loadClientKeys(entries) == (inserted: count, deleted: 0), sourceLocation: sourceLocation)
        let data = (1...count).map { id in
            "{\"id\":\(id),\"groups\":[\(groups(id).map { "\"\($0)\"" }.joined(separator: ","))]}"
        }.joined(separator: ",")
        let command = "{\"mode\":\"override\",\"sync_status\":\"\(syncStatus)\",\"data\":[\(data)]}"
        #expect(try store.setAgentGroups(command) == count, sourceLocation: sourceLocation)
        return store
    }

    /// SHA-256 of `csv`, first 8 hex digits: computed here with CryptoKit's API, not through GroupHash.
    static func agentHash(_ csv: String) -> String {
        SHA256.hash(data: Data(csv.utf8)).map { String(format: "%02x", $0) }.joined().prefix(8).description
    }

    static func globalHash(_ csvs: [String]) -> String {
        Insecure.SHA1.hash(data: Data(csvs.map(agentHash).joined().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// The error `body` throws, as a StoreError (failing the test when it throws nothing or something else).
    static func storeError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StoreError? {
        do {
            try body()
            Issue.record("expected a StoreError, nothing was thrown", sourceLocation: sourceLocation)
        } catch let e as StoreError {
            return e
        } catch {
            Issue.record("expected a StoreError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }
}

extension AgentStore {
    /// Raw SQL for tests: set up states the public API does not produce.
    func execForTest(_ sql: String, _ values: [SQLValue] = []) throws {
        try locked { (s: inout State) throws(StoreError) in _ = try s.db.run(sql, values) }
    }

    func intsForTest(_ sql: String, _ values: [SQLValue] = []) throws -> [Int] {
        try locked { (s: inout State) throws(StoreError) -> [Int] in try s.db.ints(sql, values) }
    }

    func textForTest(_ sql: String, _ values: [SQLValue] = []) throws -> String? {
        try locked { (s: inout State) throws(StoreError) -> String? in try s.db.text(sql, values) }
    }
}
