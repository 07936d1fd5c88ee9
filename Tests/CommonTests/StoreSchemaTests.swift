import Foundation
import Testing
@testable import Common

@Suite struct StoreSchemaTests {
    @Test func freshStoreHasTheWazuhLayoutRowZeroAndWAL() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "worker2")
        #expect(FileManager.default.fileExists(atPath: StoreTest.dbPath(dir)))
        #expect(try store.textForTest("PRAGMA journal_mode") == "wal")
        #expect(try store.intsForTest("PRAGMA user_version") == [StoreSchema.latestVersion])
        #expect(try store.textForTest("SELECT value FROM metadata WHERE key = 'db_version'") == "6")
        let tables = Set(try store.locked { (s: inout AgentStore.State) throws(StoreError) -> [String] in
            let st = try s.db.statement("SELECT name FROM sqlite_master WHERE type = 'table'")
            var out: [String] = []
            while try st.step() { out.append(st.text(0) ?? "") }
            return out
        })
        #expect(tables.isSuperset(of: ["agent", "labels", "group", "belongs", "metadata", "info"]))
        // Column defaults of §6, through an insert that names only the required columns.
        try store.execForTest("INSERT INTO agent (id, name, date_add) VALUES (50, 'x', 1)")
        let a = try #require(try store.agent(id: 50))
        #expect(a.nodeName == "unknown" && a.groups == ["default"] && a.groupHash == nil)
        #expect(a.connectionStatus == "never_connected" && a.syncStatus == "synced" && a.groupSyncStatus == "synced")
        #expect(a.disconnectionTime == 0)
        #expect(try store.textForTest("SELECT group_config_status FROM agent WHERE id = 50") == "not synced")
        #expect(try store.intsForTest("SELECT status_code FROM agent WHERE id = 50") == [0])
        // Row 0: the manager.
        let manager = try #require(try store.agent(id: 0))
        #expect(manager.name == "worker2" && manager.nodeName == "worker2")
        #expect(manager.ip == "127.0.0.1" && manager.registerIP == "127.0.0.1")
        #expect(manager.connectionStatus == "active" && manager.lastKeepalive == 253_402_300_799)
        #expect(manager.groups.isEmpty)
    }

    @Test func reopeningKeepsDataAndRenamesRowZero() throws {
        let dir = TemporaryDirectory()
        do { _ = try StoreTest.store(dir, node: "old-name", agents: [1, 2]) }
        let store = try AgentStore.open(home: dir.path, nodeName: "new-name")
        #expect(try store.agents().map(\.id) == [0, 1, 2])
        #expect(try store.agent(id: 0)?.name == "new-name")
        #expect(try store.agent(id: 0)?.nodeName == "new-name")
    }

    @Test func checkConstraintsRefuseUnknownStatuses() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1])
        let e = StoreTest.storeError { try store.execForTest("UPDATE agent SET sync_status = 'bogus' WHERE id = 1") }
        #expect(e?.kind == .sqlite)
        #expect(e?.description.contains("CHECK constraint failed") == true)
    }

    /// A file wazuh-db made (layout 6, user_version 0) is taken as our version 1 and migrated forward.
    @Test(arguments: [false, true]) func olderVersionIsMigrated(markedVersion1: Bool) throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        try FileManager.default.createDirectory(atPath: dir.path + "/queue/db", withIntermediateDirectories: true)
        do {
            let db = try SQLiteConnection(path: path, flags: SQLiteConnection.readWriteCreate)
            try db.exec(StoreSchema.layout6)
            try db.exec("INSERT INTO agent (id, name, date_add, group_hash) VALUES (7, 'old-agent', 5, 'abcd0123')")
            if markedVersion1 { try db.exec("PRAGMA user_version = 1") }
        }
        let store = try AgentStore(path: path, nodeName: "master-node")
        #expect(try store.intsForTest("PRAGMA user_version") == [2])
        #expect(try store.textForTest("SELECT name FROM sqlite_master WHERE name = 'agent_syncreq'") == "agent_syncreq")
        #expect(try store.agent(id: 7)?.name == "old-agent")
        #expect(try store.agent(id: 0)?.name == "master-node")
        #expect(try store.textForTest("PRAGMA journal_mode") == "wal")
    }

    @Test func newerSchemaVersionIsRefusedAndLeftAlone() throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        do {
            let store = try StoreTest.store(dir, agents: [1])
            try store.execForTest("PRAGMA user_version = 99")
        }
        let before = StoreTest.bytes(path)
        let e = StoreTest.storeError { _ = try AgentStore(path: path, nodeName: "master-node") }
        #expect(e?.kind == .newerSchema)
        #expect(e?.description.contains("schema version 99 is newer than this build's 2") == true)
        #expect(e?.description.contains(path) == true)
        #expect(StoreTest.bytes(path) == before)
    }

    @Test func newerWazuhLayoutIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        do {
            let store = try StoreTest.store(dir)
            try store.execForTest("UPDATE metadata SET value = '7' WHERE key = 'db_version'")
        }
        let e = StoreTest.storeError { _ = try AgentStore(path: path, nodeName: "master-node") }
        #expect(e?.kind == .newerSchema)
        #expect(e?.detail.contains("db_version 7") == true)
    }

    @Test func foreignDatabaseIsRefusedAndLeftAlone() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/other.db"
        do {
            let db = try SQLiteConnection(path: path, flags: SQLiteConnection.readWriteCreate)
            try db.exec("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x')")
        }
        let before = StoreTest.bytes(path)
        let e = StoreTest.storeError { _ = try AgentStore(path: path, nodeName: "n") }
        #expect(e?.kind == .unknownSchema)
        #expect(e?.detail.contains("no 'agent' table") == true)
        #expect(StoreTest.bytes(path) == before)
    }
}
