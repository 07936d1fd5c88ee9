import Foundation
import Testing
@testable import Common

/// Many agents through the group sync path, checked for correctness only: both pagings list every agent
/// once, in order, with its groups, and the global hash survives a recalculation and a reopen. The
/// timing of the same path at 50,000 agents is `make bench` (Benchmarks/store-bench).
@Suite struct StoreManyAgentsTests {
    static let count = 2_000
    /// Small pages, so that both loops take several.
    static let pageBytes = 16 * 1024

    static func groups(_ id: Int) -> [String] { id % 4 == 0 ? ["default", "g\(id % 10)"] : ["default"] }

    @Test func everyAgentThroughSyncAgentGroups() throws {
        let count = Self.count
        let dir = TemporaryDirectory()
        let store = try StoreTest.largeStore(dir, count: count, syncStatus: "syncreq", groups: Self.groups)

        // The master's 10-second query: each pending agent is listed once, then marked synced.
        var listed: [Int] = []
        var rounds = 0
        var status = "due"
        while status == "due" {
            let r = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true,
                                                 maxResponseBytes: Self.pageBytes)
            status = r.status
            listed += try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue?
                .map { Int($0["id"]?.intValue ?? -1) } ?? []
            rounds += 1
        }
        #expect(listed == Array(1...count))
        #expect(rounds > 1)
        let none = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: false)
        #expect(none.status == "ok" && none.payload == #"[{"data":[]}]"#)

        // The full resync, paged on last_id: every agent in order, with its groups in priority order.
        var ids: [Int] = []
        var lastID = 0
        var chunks = 0
        status = "due"
        while status == "due" {
            let r = try store.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false, lastID: lastID,
                                                 maxResponseBytes: Self.pageBytes)
            status = r.status
            chunks += 1
            for item in try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue ?? [] {
                let id = Int(item["id"]?.intValue ?? -1)
                ids.append(id)
                #expect(item["groups"] == .array(Self.groups(id).map { .string($0) }), "agent \(id)")
            }
            lastID = ids.last ?? lastID
        }
        #expect(ids == Array(1...count))
        #expect(chunks > 1)

        let expected = StoreTest.globalHash((1...count).map { Self.groups($0).joined(separator: ",") })
        #expect(try store.globalGroupHash() == expected)
        try store.recalculateAgentGroupHashes()
        #expect(try store.globalGroupHash() == expected)

        // A reopen checks and migrates the file and finds every agent.
        let reopened = try AgentStore(path: store.path, nodeName: "master-node")
        #expect(try reopened.agents(statuses: ["never_connected"]).count == count)
        #expect(try reopened.globalGroupHash() == expected)
    }
}
