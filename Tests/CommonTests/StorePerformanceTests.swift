import Foundation
import Testing
@testable import Common

/// Scale sanity: 50,000 agents through the group sync path. Timings are printed, not asserted (the
/// machine running the tests may be busy); correctness is asserted.
@Suite struct StorePerformanceTests {
    @Test func fiftyThousandAgentsThroughSyncAgentGroups() throws {
        let count = 50_000
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "master-node")
        let clock = ContinuousClock()
        var marks: [(String, Duration)] = []
        func timed<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
            let start = clock.now
            let result = try body()
            marks.append((label, clock.now - start))
            return result
        }

        let entries = (1...count).map { (id: $0, name: "agent-\($0)", ip: "any", key: String(repeating: "a", count: 64)) }
        #expect(try timed("load client.keys") { try store.loadClientKeys(entries) } == (inserted: count, deleted: 0))

        func groups(_ id: Int) -> [String] { id % 4 == 0 ? ["default", "g\(id % 10)"] : ["default"] }
        let data = (1...count).map { id in
            "{\"id\":\(id),\"groups\":[\(groups(id).map { "\"\($0)\"" }.joined(separator: ","))]}"
        }.joined(separator: ",")
        let command = "{\"mode\":\"override\",\"sync_status\":\"syncreq\",\"data\":[\(data)]}"
        #expect(try timed("set-agent-groups") { try store.setAgentGroups(command) } == count)

        // The master's 10-second query: every agent is pending once, paged by the 6 MiB response limit.
        var listed = 0
        var rounds = 0
        try timed("sync-agent-groups-get sync_status") {
            var status = "due"
            while status == "due" {
                let r = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true)
                status = r.status
                listed += try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue?.count ?? 0
                rounds += 1
            }
        }
        #expect(listed == count)

        // The full resync, paged on last_id with a smaller limit so it takes several chunks.
        var ids: [Int] = []
        var lastID = 0
        var chunks = 0
        try timed("sync-agent-groups-get all") {
            var status = "due"
            while status == "due" {
                let r = try store.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false, lastID: lastID,
                                                     maxResponseBytes: 512 * 1024)
                status = r.status
                chunks += 1
                let data = try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue ?? []
                for item in data {
                    let id = Int(item["id"]?.intValue ?? -1)
                    ids.append(id)
                    if id % 997 == 0 { #expect(item["groups"] == .array(groups(id).map { .string($0) })) }
                }
                lastID = ids.last ?? lastID
            }
        }
        #expect(ids == Array(1...count))
        #expect(chunks > 1)

        let hash = try timed("global hash") { try store.globalGroupHash() }
        let expected = StoreTest.globalHash((1...count).map { groups($0).joined(separator: ",") })
        #expect(hash == expected)
        try timed("recalculate") { try store.recalculateAgentGroupHashes() }
        #expect(try store.globalGroupHash() == expected)

        // Opening checks the whole file (quick_check) and migrates: the cost a daemon start pays.
        let reopened = try timed("reopen") { try AgentStore(path: store.path, nodeName: "master-node") }
        #expect(try reopened.agents(statuses: ["never_connected"]).count == count)

        print("50,000 agents: " + marks.map { "\($0.0) \($0.1.formatted(.units(allowed: [.milliseconds])))" }
            .joined(separator: ", ") + "; \(rounds) sync_status round(s), \(chunks) full chunks")
    }
}
