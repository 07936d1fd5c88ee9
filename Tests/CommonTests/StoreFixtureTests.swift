import Foundation
import Testing
@testable import Common

/// The agent-info and agent-groups strings a real 4.8.1 cluster exchanged (session 1), fed through the
/// store and read back: same keys, order, values and hashes.
@Suite struct StoreFixtureTests {
    /// The `{"set_data_command", "payload", "chunks"}` envelopes of the session's `str_upd` messages.
    static func envelopes(command: String) throws -> [(payload: JSONValue, chunks: [String])] {
        let text = String(decoding: try TestPaths.fixture("session1-fresh-worker.conn1.expected.jsonl"), as: UTF8.self)
        var out: [(JSONValue, [String])] = []
        for line in text.split(separator: "\n") {
            let message = try JSONParser.parse(String(line))
            guard message["cmd"] == "str_upd", let plain = message["plain"]?.stringValue else { continue }
            // `plain` holds one character per byte (Latin-1); the bytes are the UTF-8 payload.
            let bytes = plain.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
            guard let space = bytes.firstIndex(of: 0x20) else { continue }
            guard let envelope = try? JSONParser.parse(Array(bytes[(space + 1)...])),
                  envelope["set_data_command"]?.stringValue == command else { continue }
            let chunks = envelope["chunks"]?.arrayValue?.compactMap(\.stringValue) ?? []
            out.append((envelope["payload"] ?? .null, chunks))
        }
        return out
    }

    @Test func agentInfoChunkRoundTrips() throws {
        let envelopes = try Self.envelopes(command: "global sync-agent-info-set")
        let chunk = try #require(envelopes.first?.chunks.first)
        #expect(envelopes.first?.payload == .object(JSONObject()))
        let original = try #require(try JSONParser.parse(chunk).arrayValue)
        let ids = original.compactMap { $0["id"]?.intValue.map(Int.init) }
        #expect(ids == [6, 7, 8])

        // The master's side: those agents exist (registered), the worker's rows are applied.
        let master = try StoreTest.store(TemporaryDirectory(), node: "master-node", agents: Array(1...8))
        #expect(try master.syncAgentInfoSet(chunk) == (updated: 3, foreignKeyErrors: 0))
        let a6 = try #require(try master.agent(id: 6))
        #expect(a6.nodeName == "worker2" && a6.connectionStatus == "active" && a6.ip == "10.0.0.6")
        #expect(a6.osName == "Ubuntu" && a6.version == "Wazuh v4.8.1" && a6.managerHost == "wazuh-peer-worker2")

        // Read back as a worker would send them: the very same text.
        try master.execForTest("UPDATE agent SET sync_status = 'syncreq' WHERE id IN (6, 7, 8)")
        let (status, payload) = try master.syncAgentInfoGet()
        #expect(status == "ok")
        #expect(try JSONParser.parse(payload) == JSONParser.parse(chunk))
        #expect(payload == chunk)
    }

    @Test func agentGroupsChunksRoundTripWithWazuhHashes() throws {
        let envelopes = try Self.envelopes(command: "global set-agent-groups")
        #expect(envelopes.allSatisfy { $0.payload == ["mode": "override", "sync_status": "synced"] })
        let chunks = envelopes.flatMap(\.chunks)
        // The full resync chunk (no hash) and an incremental one (agent 6 joining webservers, with hash).
        let full = try #require(chunks.first { (try? JSONParser.parse($0))?.arrayValue?.first?["hash"] == nil })
        let incremental = try #require(chunks.first {
            ((try? JSONParser.parse($0))?.arrayValue?.first?["data"]?.arrayValue?.count ?? 0) == 1
        })
        let hashOnly = Set(chunks.compactMap { c -> String? in
            guard let o = (try? JSONParser.parse(c))?.arrayValue?.first,
                  o["data"]?.arrayValue?.isEmpty == true else { return nil }
            return o["hash"]?.stringValue
        })
        #expect(hashOnly == ["7dc0cd31ccd6bb81d7076600d12016fac6ae947c", "c679d5cb7c2bd424e5f2dee1ca5c3abe17ebe385"])

        let worker = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: Array(1...8))
        // Before agent 6 joined webservers: 1 and 2 in default,webservers, the rest in default.
        _ = try worker.setAgentGroups(#"{"mode":"override","sync_status":"synced","data":[{"id":1,"groups":["default","webservers"]},{"id":2,"groups":["default","webservers"]}]}"#)
        #expect(try worker.globalGroupHash() == "7dc0cd31ccd6bb81d7076600d12016fac6ae947c")
        #expect(try worker.syncAgentGroupsGet(condition: nil, setSynced: false, getGlobalHash: true).payload
                == #"[{"data":[],"hash":"7dc0cd31ccd6bb81d7076600d12016fac6ae947c"}]"#)

        // Apply the incremental chunk as the worker's recv task does: payload + data of chunk[0].
        let incrementalObject = try #require(try JSONParser.parse(incremental).arrayValue?.first)
        #expect(try worker.setAgentGroups(Self.command(data: incrementalObject["data"])) == 1)
        #expect(try worker.globalGroupHash() == incrementalObject["hash"]?.stringValue)
        #expect(try worker.globalGroupHash() == "c679d5cb7c2bd424e5f2dee1ca5c3abe17ebe385")

        // A fresh worker applying the full resync reads back exactly the master's chunk, and the hash agrees.
        let fresh = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: Array(1...8))
        _ = try fresh.setAgentGroups(#"{"mode":"override","sync_status":"synced","data":[]}"#)
        let fullObject = try #require(try JSONParser.parse(full).arrayValue?.first)
        #expect(try fresh.setAgentGroups(Self.command(data: fullObject["data"])) == 8)
        try fresh.recalculateAgentGroupHashes()
        let back = try fresh.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false)
        #expect(back.status == "ok")
        #expect(back.payload == full)
        let withHash = try fresh.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: true)
        let hash = try #require(try JSONParser.parse(withHash.payload).arrayValue?.first?["hash"]?.stringValue)
        #expect(hash == "c679d5cb7c2bd424e5f2dee1ca5c3abe17ebe385")
        #expect(hash.count == 40 && hash.allSatisfy(\.isHexDigit))
    }

    /// The compact `set-agent-groups` command 4.8.1's worker builds from a chunk (PROTOCOL.md §7.2).
    static func command(data: JSONValue?) -> String {
        JSONValue.object(JSONObject([("mode", "override"), ("sync_status", "synced"), ("data", data ?? [])])).compactText
    }
}
