import Foundation
import Testing
@testable import Common

@Suite struct StoreAgentsTests {
    @Test func insertQueryAndDelete() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "master-node")
        #expect(try store.nextFreeID() == 1)
        try store.insertAgent(id: 1, name: "web-1", ip: "any", key: "k1", groups: ["default", "web"],
                              groupSyncStatus: "syncreq", dateAdd: 1_700_000_000)
        try store.insertAgent(id: 5, name: "db-1", ip: "10.1.1.1", key: "k5", groups: [], groupSyncStatus: "synced",
                              dateAdd: 1_700_000_001)
        #expect(try store.nextFreeID() == 6)
        let a = try #require(try store.agent(id: 1))
        #expect(a.name == "web-1" && a.ip == nil && a.registerIP == "any" && a.displayIP == "any" && a.key == "k1")
        #expect(a.groups == ["default", "web"] && a.groupSyncStatus == "syncreq" && a.dateAdd == 1_700_000_000)
        #expect(a.groupHash == StoreTest.agentHash("default,web") && a.paddedID == "001")
        #expect(try store.agent(id: 5)?.groups == [])
        #expect(try store.agent(id: 4) == nil)

        let dup = StoreTest.storeError {
            try store.insertAgent(id: 5, name: "again", ip: "any", key: "k", groups: [], groupSyncStatus: "synced", dateAdd: 0)
        }
        #expect(dup?.kind == .conflict && dup?.detail.contains("005 already exists") == true)
        #expect(StoreTest.storeError {
            try store.insertAgent(id: 0, name: "x", ip: "any", key: "k", groups: [], groupSyncStatus: "synced", dateAdd: 0)
        }?.kind == .invalidInput)

        try store.execForTest("INSERT INTO labels (id, key, value) VALUES (1, 'a', 'b')")
        try store.deleteAgent(id: 1)
        #expect(try store.agent(id: 1) == nil)
        #expect(try store.intsForTest("SELECT count(*) FROM belongs WHERE id_agent = 1") == [0])
        #expect(try store.intsForTest("SELECT count(*) FROM labels WHERE id = 1") == [0])
        #expect(StoreTest.storeError { try store.deleteAgent(id: 1) }?.kind == .notFound)
        #expect(StoreTest.storeError { try store.deleteAgent(id: 0) }?.kind == .invalidInput)
        #expect(try store.agent(id: 0) != nil)
    }

    @Test func filtersAndActiveCount() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "master-node", agents: [1, 2, 3, 4])
        for (id, node, status) in [(1, "worker1", "active"), (2, "worker1", "disconnected"), (3, "worker2", "active")] {
            try store.recordKeepalive(id: id, nodeName: node, connectionStatus: status, os: [:], version: "Wazuh v4.8.1",
                                      lastKeepalive: 100, syncStatus: "synced")
        }
        #expect(try store.agents().map(\.id) == [0, 1, 2, 3, 4])
        #expect(try store.agents(nodeNames: ["worker1"]).map(\.id) == [1, 2])
        #expect(try store.agents(statuses: ["active"]).map(\.id) == [0, 1, 3])
        #expect(try store.agents(nodeNames: ["worker1", "worker2"], statuses: ["active"]).map(\.id) == [1, 3])
        #expect(try store.agents(nodeNames: []).isEmpty)
        #expect(try store.countActive(nodeName: "worker1") == 1)
        #expect(try store.countActive(nodeName: "master-node") == 0)  // row 0 is not an agent
        #expect(try store.agent(id: 2)?.disconnectionTime == 100)
        #expect(try store.agent(id: 4)?.connectionStatus == "never_connected")
    }

    @Test func keepaliveWritesWhatRemotedWould() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: [1])
        try store.recordKeepalive(id: 1, nodeName: "worker2", connectionStatus: "active",
                                  os: ["os_name": "Ubuntu", "os_platform": "ubuntu", "ip": "10.0.0.1"],
                                  version: "Wazuh v4.8.1", lastKeepalive: 1234, syncStatus: "syncreq")
        try store.recordKeepalive(id: 1, nodeName: "worker2", connectionStatus: "active", os: ["os_arch": "x86_64"],
                                  version: "Wazuh v4.8.1", lastKeepalive: 1244, syncStatus: "syncreq")
        let a = try #require(try store.agent(id: 1))
        #expect(a.osName == "Ubuntu" && a.osPlatform == "ubuntu" && a.osArch == "x86_64" && a.ip == "10.0.0.1")
        #expect(a.lastKeepalive == 1244 && a.syncStatus == "syncreq" && a.nodeName == "worker2" && a.disconnectionTime == 0)
    }

    @Test func loadClientKeysInsertsMissingAndDeletesAgentsWithoutKeys() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: [1, 2, 3])
        let keys = """
            001 agent-00001 any 1111
            002 !agent-00002 any 2222
            # a comment
            004 agent-00004 10.0.0.4 4444
            005 #agent-00005 any 5555
            006 agent-00006 any 6666
            """
        let entries = ClientKeys.parse(keys)
        #expect(entries.map(\.id) == [1, 4, 6])
        let result = try store.loadClientKeys(entries)
        #expect(result == (inserted: 2, deleted: 2))
        #expect(try store.agents().map(\.id) == [0, 1, 4, 6])
        let a4 = try #require(try store.agent(id: 4))
        #expect(a4.name == "agent-00004" && a4.registerIP == "10.0.0.4" && a4.key == "4444" && a4.groups.isEmpty)
        #expect(a4.ip == nil && a4.nodeName == "unknown")
        #expect(try store.agent(id: 1)?.key == "key1")  // existing agents untouched
        #expect(try store.loadClientKeys(entries) == (inserted: 0, deleted: 0))
        #expect(try store.loadClientKeys([]) == (inserted: 0, deleted: 3))
        #expect(try store.agents().map(\.id) == [0])
    }

    @Test func clientKeysParseAndFormat() {
        let text = "001 a any k1\n\n  \n010 b 10.0.0.1 k2  \r\n1234 c any k3\nxyz d any k\n007 short line\n"
        let entries = ClientKeys.parse(text)
        #expect(entries.map(\.id) == [1, 10, 1234])
        #expect(entries.map(\.key) == ["k1", "k2", "k3"])
        #expect(ClientKeys.format(entries) == "001 a any k1\n010 b 10.0.0.1 k2\n1234 c any k3\n")
        #expect(ClientKeys.parse(ClientKeys.format(entries)).map(\.name) == ["a", "b", "c"])
    }

    @Test func concurrentCallersAreSerialised() async throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2", agents: Array(1...40))
        await withTaskGroup(of: Void.self) { group in
            for id in 1...40 {
                group.addTask {
                    try? store.recordKeepalive(id: id, nodeName: "worker2", connectionStatus: "active", os: [:],
                                               version: "v", lastKeepalive: id, syncStatus: "syncreq")
                    _ = try? store.syncAgentInfoGet(maxResponseBytes: 2000)
                }
            }
        }
        while try store.syncAgentInfoGet().status == "due" {}
        _ = try store.syncAgentInfoGet()
        #expect(try store.intsForTest("SELECT count(*) FROM agent WHERE sync_status = 'syncreq'") == [0])
        #expect(try store.agents().filter { $0.lastKeepalive == $0.id }.count == 40)
    }
}
