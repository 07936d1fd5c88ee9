import Foundation
import Testing
@testable import Common

@Suite struct StoreAgentInfoTests {
    static let ubuntu = [
        "os_name": "Ubuntu", "os_version": "22.04.4 LTS", "os_major": "22", "os_minor": "04", "os_codename": "jammy",
        "os_build": "", "os_platform": "ubuntu", "os_uname": "Linux |a |5.15.0 |#1 SMP |x86_64", "os_arch": "x86_64",
    ]

    private func keepalive(_ store: AgentStore, _ id: Int, status: String = "syncreq", extra: [String: String] = [:]) throws {
        try store.recordKeepalive(id: id, nodeName: "worker2", connectionStatus: "active",
                                  os: Self.ubuntu.merging(extra) { $1 }, version: "Wazuh v4.8.1",
                                  lastKeepalive: 1_795_720_753, syncStatus: status)
    }

    private func ids(_ payload: String) throws -> [Int] {
        try JSONParser.parse(payload).arrayValue?.compactMap { $0["id"]?.intValue.map(Int.init) } ?? []
    }

    @Test func getReturnsSyncreqRowsInWazuhKeyOrderAndMarksThemSynced() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: [1, 2, 3, 4, 5])
        try keepalive(store, 1, extra: ["ip": "10.0.0.1"])
        try keepalive(store, 3, extra: ["ip": "10.0.0.3", "config_sum": "ab73", "merged_sum": "4a87", "manager_host": "w2"])
        try keepalive(store, 5)
        try store.execForTest("INSERT INTO labels (id, key, value) VALUES (3, 'env', 'prod'), (3, 'app', 'web')")
        try store.execForTest("UPDATE agent SET sync_status = 'syncreq' WHERE id = 0")  // never listed: id > 0 only

        let (status, payload) = try store.syncAgentInfoGet()
        #expect(status == "ok")
        let agents = try #require(try JSONParser.parse(payload).arrayValue)
        #expect(agents.map { $0["id"] } == [1, 3, 5])
        // Agent 5 never reported an ip or sums: those NULL columns are left out, and it has no labels key.
        #expect(agents[2].objectValue?.keys == [
            "id", "name", "os_name", "os_version", "os_major", "os_minor", "os_codename", "os_build", "os_platform",
            "os_uname", "os_arch", "version", "node_name", "last_keepalive", "connection_status", "disconnection_time",
            "group_config_status", "status_code",
        ])
        #expect(agents[1].objectValue?.keys == AgentStore.agentInfoColumns + ["labels"])
        #expect(agents[1]["labels"] == [["id": 3, "key": "app", "value": "web"], ["id": 3, "key": "env", "value": "prod"]])
        #expect(agents[0]["ip"] == "10.0.0.1" && agents[0]["last_keepalive"] == 1_795_720_753)
        #expect(agents[0]["os_build"] == "" && agents[0]["status_code"] == 0)
        // Compact, cJSON style: no spaces between tokens.
        #expect(payload.hasPrefix(#"[{"id":1,"name":"agent-00001","ip":"10.0.0.1","os_name":"Ubuntu","#))
        #expect(try store.intsForTest("SELECT id FROM agent WHERE sync_status = 'syncreq'") == [0])
        #expect(try store.syncAgentInfoGet() == (status: "ok", payload: "[]"))
    }

    @Test func getPagesWithDueWithinTheSizeLimit() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: Array(1...100))
        for id in 1...100 { try keepalive(store, id) }
        let one = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: [1])
        try keepalive(one, 1)
        let rowBytes = try one.syncAgentInfoGet().payload.utf8.count - 2
        let limit = 10 * (rowBytes + 1) + 4  // about ten rows per chunk, with the status word

        var chunks: [(String, String)] = []
        repeat { chunks.append(try store.syncAgentInfoGet(maxResponseBytes: limit)) } while chunks.last?.0 == "due"
        #expect(chunks.count >= 10 && chunks.count <= 12)
        #expect(chunks.dropLast().allSatisfy { $0.0 == "due" } && chunks.last?.0 == "ok")
        for (status, payload) in chunks { #expect(status.utf8.count + 1 + payload.utf8.count <= limit) }
        #expect(try chunks.flatMap { try ids($0.1) } == Array(1...100))
        #expect(try store.intsForTest("SELECT count(*) FROM agent WHERE sync_status = 'syncreq'") == [0])
    }

    /// Paging continues after the last id until an "ok": a row marked again behind the cursor waits for the
    /// next round, which starts from the beginning, as wazuh-db's static last id does.
    @Test func pagingCursorRestartsAfterOk() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: Array(1...30))
        for id in 1...30 { try keepalive(store, id) }
        let first = try store.syncAgentInfoGet(maxResponseBytes: 4000)
        #expect(first.status == "due")
        let firstIDs = try ids(first.payload)
        try keepalive(store, firstIDs[0])  // changed again behind the cursor
        var rest: [Int] = []
        var status = "due"
        while status == "due" {
            let r = try store.syncAgentInfoGet(maxResponseBytes: 4000)
            status = r.status
            rest += try ids(r.payload)
        }
        #expect(firstIDs + rest == Array(1...30))
        let again = try store.syncAgentInfoGet()
        #expect(again.status == "ok")
        #expect(try ids(again.payload) == [firstIDs[0]])
    }

    @Test func anAgentLargerThanTheLimitStillProgresses() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: [1, 2])
        try keepalive(store, 1)
        try keepalive(store, 2)
        let a = try store.syncAgentInfoGet(maxResponseBytes: 50)
        let b = try store.syncAgentInfoGet(maxResponseBytes: 50)
        #expect(a.status == "due")
        #expect(try ids(a.payload) == [1])
        #expect(b.status == "ok")
        #expect(try ids(b.payload) == [2])
    }

    @Test func setUpdatesByIDReplacesLabelsAndCountsUnknownIDs() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2])
        try store.execForTest("INSERT INTO labels (id, key, value) VALUES (1, 'old', 'x'), (2, 'gone', 'y')")
        try store.execForTest("UPDATE agent SET sync_status = 'syncreq', config_sum = 'stale' WHERE id IN (1, 2)")
        let chunk = """
            [{"id":1,"name":"renamed","ip":"10.0.0.1","os_name":"Ubuntu","version":"Wazuh v4.8.1","node_name":"worker2",\
            "last_keepalive":1795720753,"connection_status":"active","disconnection_time":0,\
            "group_config_status":"synced","status_code":0,"labels":[{"id":1,"key":"env","value":"prod"}]},\
            {"id":2,"os_name":"Windows","node_name":"worker1","connection_status":"disconnected","disconnection_time":17},\
            {"id":99,"name":"ghost","labels":[{"id":99,"key":"k","value":"v"}]}]
            """
        let result = try store.syncAgentInfoSet(chunk)
        #expect(result.updated == 2 && result.foreignKeyErrors == 1)
        let a1 = try #require(try store.agent(id: 1))
        #expect(a1.name == "renamed" && a1.ip == "10.0.0.1" && a1.nodeName == "worker2" && a1.syncStatus == "synced")
        #expect(a1.connectionStatus == "active" && a1.version == "Wazuh v4.8.1" && a1.lastKeepalive == 1_795_720_753)
        #expect(try store.textForTest("SELECT config_sum FROM agent WHERE id = 1") == nil)  // absent = NULL
        #expect(try store.textForTest("SELECT group_config_status FROM agent WHERE id = 1") == "synced")
        let a2 = try #require(try store.agent(id: 2))
        #expect(a2.name == "agent-00002")  // NOT NULL column absent: kept
        #expect(a2.connectionStatus == "disconnected" && a2.disconnectionTime == 17 && a2.nodeName == "worker1")
        #expect(try store.textForTest("SELECT group_config_status FROM agent WHERE id = 2") == "not synced")
        #expect(try store.intsForTest("SELECT count(*) FROM labels WHERE id = 2") == [0])
        #expect(try store.textForTest("SELECT key || '=' || value FROM labels WHERE id = 1") == "env=prod")
        #expect(try store.agent(id: 99) == nil)
        #expect(try store.intsForTest("SELECT count(*) FROM agent WHERE sync_status = 'syncreq'") == [0])
    }

    @Test func setRefusesMalformedChunksWithoutApplyingAnything() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1])
        let notArray = StoreTest.storeError { _ = try store.syncAgentInfoSet(#"{"id":1}"#) }
        #expect(notArray?.kind == .invalidInput && notArray?.detail.contains("not a JSON array") == true)
        let broken = StoreTest.storeError { _ = try store.syncAgentInfoSet(#"[{"id":1,"#) }
        #expect(broken?.kind == .invalidInput && broken?.detail.contains("invalid JSON at byte") == true)
        let noID = StoreTest.storeError { _ = try store.syncAgentInfoSet(#"[{"id":1,"name":"x"},{"name":"y"}]"#) }
        #expect(noID?.detail.contains("element 1") == true)
        #expect(try store.agent(id: 1)?.name == "agent-00001")  // the first element was rolled back
        let nested = StoreTest.storeError { _ = try store.syncAgentInfoSet(#"[{"id":1,"os_name":{"a":1}}]"#) }
        #expect(nested?.detail.contains("\"os_name\"") == true)
    }

    @Test func keepaliveValidatesItsArguments() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1])
        #expect(StoreTest.storeError { try self.keepalive(store, 2) }?.kind == .notFound)
        let bad = StoreTest.storeError { try self.keepalive(store, 1, extra: ["os_colour": "blue"]) }
        #expect(bad?.kind == .invalidInput && bad?.detail.contains("os_colour") == true)
        #expect(StoreTest.storeError { try self.keepalive(store, 1, status: "later") }?.kind == .invalidInput)
    }
}
