import Foundation
import Testing
@testable import Common

@Suite struct StoreGroupsTests {
    private func set(_ store: AgentStore, _ mode: String, _ status: String = "synced", _ data: [(Int, [String])]) throws -> Int {
        let items = data.map { id, groups in
            JSONValue.object(JSONObject([("id", .int(Int64(id))), ("groups", .array(groups.map { .string($0) }))]))
        }
        let json = JSONValue.object(JSONObject([("mode", .string(mode)), ("sync_status", .string(status)),
                                                ("data", .array(items))]))
        return try store.setAgentGroups(json.compactText)
    }

    private func belongs(_ store: AgentStore, _ id: Int) throws -> String? {
        try store.textForTest(
            """
            SELECT group_concat(g.name || ':' || b.priority, ' ') FROM
            (SELECT * FROM belongs WHERE id_agent = ? ORDER BY priority) b JOIN `group` g ON g.id = b.id_group
            """, [.int(Int64(id))])
    }

    @Test func overrideSetsBelongsCSVHashAndStatus() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2, 3])
        #expect(try set(store, "override", "syncreq", [(1, ["webservers", "default"]), (2, []), (77, ["x"])]) == 2)
        #expect(try belongs(store, 1) == "webservers:0 default:1")
        let a1 = try #require(try store.agent(id: 1))
        #expect(a1.groups == ["webservers", "default"] && a1.groupSyncStatus == "syncreq")
        #expect(a1.groupHash == StoreTest.agentHash("webservers,default"))
        #expect(try store.textForTest("SELECT `group` FROM agent WHERE id = 1") == "webservers,default")
        let a2 = try #require(try store.agent(id: 2))
        #expect(a2.groups.isEmpty && a2.groupHash == nil)
        #expect(try store.textForTest("SELECT `group` FROM agent WHERE id = 2") == nil)
        #expect(try store.intsForTest("SELECT count(*) FROM `group` WHERE name = 'x'") == [0])  // agent 77 skipped
        #expect(try store.agent(id: 77) == nil)
        // Agent 3 untouched by the command.
        #expect(try store.agent(id: 3)?.groups == ["default"])
    }

    /// An override that repeats what a row holds leaves it unwritten, and gives the same result as writing
    /// it: rows that differ in groups, order, status, hash or `belongs` (behind the CSV's back) are written.
    @Test func overrideWritesOnlyTheRowsThatDiffer() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2, 3, 4, 5])
        let first: [(Int, [String])] = [(1, ["web", "default"]), (2, ["db"]), (3, ["web"]), (4, ["default"]), (5, ["a", "b"])]
        #expect(try set(store, "override", "synced", first) == 5)
        // belongs b, a; the CSV still a,b.
        try store.execForTest("UPDATE belongs SET priority = priority + 10 WHERE id_agent = 5")
        try store.execForTest("UPDATE belongs SET priority = 11 - (priority - 10) - 10 WHERE id_agent = 5")
        try store.execForTest("UPDATE agent SET group_hash = 'stale' WHERE id = 4")
        let again: [(Int, [String])] = [(1, ["web", "default"]), (2, ["db", "web"]), (3, ["web"]), (4, ["default"]), (5, ["a", "b"])]
        #expect(try set(store, "override", "synced", again) == 5)
        #expect(try belongs(store, 1) == "web:0 default:1")
        #expect(try belongs(store, 2) == "db:0 web:1")
        #expect(try store.agent(id: 2)?.groupHash == StoreTest.agentHash("db,web"))
        #expect(try store.agent(id: 4)?.groupHash == StoreTest.agentHash("default"), "a stale hash is rewritten")
        #expect(try belongs(store, 5) == "a:0 b:1", "belongs out of step with the CSV is rewritten")
        // Same groups, other status: written.
        #expect(try set(store, "override", "syncreq", [(3, ["web"])]) == 1)
        #expect(try store.agent(id: 3)?.groupSyncStatus == "syncreq")
        // Same everything: no row is written (temporary triggers count the writes).
        let marker = try store.intsForTest("SELECT count(*) FROM belongs")
        try store.execForTest("CREATE TEMP TABLE writes (n INTEGER)")
        try store.execForTest("INSERT INTO writes VALUES (0)")
        try store.execForTest("CREATE TEMP TRIGGER w1 AFTER UPDATE ON agent BEGIN UPDATE writes SET n = n + 1; END")
        try store.execForTest("CREATE TEMP TRIGGER w2 AFTER DELETE ON belongs BEGIN UPDATE writes SET n = n + 1; END")
        #expect(try set(store, "override", "synced", again.filter { $0.0 != 3 }) == 4)
        #expect(try store.intsForTest("SELECT n FROM writes") == [0], "nothing differed, nothing was written")
        #expect(try set(store, "override", "synced", [(1, ["default", "web"])]) == 1)
        #expect(try store.intsForTest("SELECT n FROM writes").first ?? 0 > 0, "a new order is written")
        #expect(try belongs(store, 1) == "default:0 web:1")
        #expect(try store.intsForTest("SELECT count(*) FROM belongs") == marker)
    }

    @Test func appendEmptyOnlyAndRemove() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2])
        _ = try set(store, "override", "synced", [(2, [])])
        #expect(try set(store, "append", "synced", [(1, ["web", "default", "db"])]) == 1)
        #expect(try belongs(store, 1) == "default:0 web:1 db:2")
        #expect(try store.agent(id: 1)?.groupHash == StoreTest.agentHash("default,web,db"))
        // empty_only: agent 1 has groups (skipped), agent 2 has none (assigned).
        #expect(try set(store, "empty_only", "synced", [(1, ["other"]), (2, ["other", "web"])]) == 1)
        #expect(try store.agent(id: 1)?.groups == ["default", "web", "db"])
        #expect(try store.agent(id: 2)?.groups == ["other", "web"])
        // remove: the rest keep their order; removing everything falls back to "default".
        #expect(try set(store, "remove", "synced", [(1, ["web"]), (2, ["other", "web"])]) == 2)
        #expect(try store.agent(id: 1)?.groups == ["default", "db"])
        #expect(try store.agent(id: 1)?.groupHash == StoreTest.agentHash("default,db"))
        #expect(try store.agent(id: 2)?.groups == ["default"])
    }

    @Test func malformedCommandsAreRefusedNamingTheField() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1])
        let cases: [(String, String)] = [
            (#"{"mode":"replace","data":[]}"#, "unknown mode \"replace\""),
            (#"{"data":[]}"#, "missing string \"mode\""),
            (#"{"mode":"override","sync_status":"maybe","data":[]}"#, "sync_status \"maybe\""),
            (#"{"mode":"override"}"#, "missing array \"data\""),
            (#"{"mode":"override","data":[{"groups":["a"]}]}"#, "data[0] has no integer \"id\""),
            (#"{"mode":"override","data":[{"id":1,"groups":[""]}]}"#, "agent 1 has a group"),
            (#"{"mode":"override","#, "invalid JSON"),
        ]
        for (json, message) in cases {
            let e = StoreTest.storeError { _ = try store.setAgentGroups(json) }
            #expect(e?.kind == .invalidInput)
            #expect(e?.detail.contains(message) == true, "\(e?.detail ?? "") for \(json)")
        }
    }

    /// `overrideAgentGroups(data:)` (a worker applying a master's chunk without re-encoding it) against the
    /// text command: same rows, same count, same refusals.
    @Test func parsedOverrideWritesWhatTheTextCommandWrites() throws {
        let dir = TemporaryDirectory()
        let textDir = TemporaryDirectory()
        let text = try StoreTest.store(textDir, agents: [1, 2, 3, 4])
        let parsed = try StoreTest.store(dir, agents: [1, 2, 3, 4])
        let rounds: [[(Int, [String])]] = [
            [(1, ["web", "default"]), (2, []), (3, ["db", "db", "web"]), (9, ["x"])],
            [(1, ["default", "web"]), (2, ["a"]), (3, ["db", "web"]), (4, ["default"])],
        ]
        for (round, data) in rounds.enumerated() {
            let items = JSONValue.array(data.map { id, groups in
                JSONValue.object(JSONObject([("id", .int(Int64(id))), ("groups", .array(groups.map { .string($0) }))]))
            })
            let status = round == 0 ? "syncreq" : "synced"
            #expect(try parsed.overrideAgentGroups(data: items, syncStatus: status) == (try set(text, "override", status, data)))
            for id in 1...4 {
                #expect(try belongs(parsed, id) == (try belongs(text, id)), "agent \(id), round \(round)")
                let (a, b) = (try parsed.agent(id: id), try text.agent(id: id))
                #expect(a?.groups == b?.groups && a?.groupHash == b?.groupHash && a?.groupSyncStatus == b?.groupSyncStatus)
            }
            #expect(try parsed.globalGroupHash() == (try text.globalGroupHash()))
        }
        let refusals: [(JSONValue, String)] = [
            (.object(JSONObject([])), "missing array \"data\""),
            ([["groups": ["a"]]], "data[0] has no integer \"id\""),
            ([["id": 1, "groups": [""]]], "agent 1 has a group"),
        ]
        for (data, message) in refusals {
            let e = StoreTest.storeError { _ = try parsed.overrideAgentGroups(data: data, syncStatus: "synced") }
            #expect(e?.kind == .invalidInput && e?.detail.contains(message) == true, "\(e?.detail ?? "")")
        }
        let e = StoreTest.storeError { _ = try parsed.overrideAgentGroups(data: [], syncStatus: "maybe") }
        #expect(e?.detail.contains("sync_status \"maybe\"") == true)
        #expect(try belongs(parsed, 1) == "default:0 web:1", "a refused command wrote nothing")
    }

    @Test func globalHashMatchesAnIndependentComputation() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2, 3, 4])
        _ = try set(store, "override", "synced", [(1, ["b", "a"]), (2, ["default"]), (3, []), (4, ["a", "b", "c"])])
        // Agent 3 has no hash and is left out; agent 0 never counts.
        #expect(try store.globalGroupHash() == StoreTest.globalHash(["b,a", "default", "a,b,c"]))
        // Values computed outside Swift (python3 hashlib.sha256(...).hexdigest()[:8]).
        #expect(StoreTest.agentHash("default") == "37a8eec1")
        #expect(try store.agent(id: 2)?.groupHash == "37a8eec1")
        #expect(try store.agent(id: 1)?.groupHash == "71db20d9")
        let empty = try StoreTest.store(TemporaryDirectory())
        #expect(try empty.globalGroupHash() == nil)
    }

    @Test func recalculateRebuildsCSVAndHashFromBelongs() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2, 3])
        _ = try set(store, "override", "synced", [(1, ["a", "b"]), (2, ["a"]), (3, [])])
        let good = try store.globalGroupHash()
        try store.execForTest("UPDATE agent SET group_hash = 'deadbeef', `group` = 'junk' WHERE id = 1")
        try store.execForTest("UPDATE agent SET group_hash = NULL WHERE id = 2")
        try store.execForTest("UPDATE agent SET group_hash = 'cafecafe', `group` = 'z' WHERE id = 3")
        #expect(try store.globalGroupHash() != good)
        try store.recalculateAgentGroupHashes()
        #expect(try store.globalGroupHash() == good)
        #expect(try store.agent(id: 1)?.groups == ["a", "b"])
        #expect(try store.textForTest("SELECT `group` FROM agent WHERE id = 3") == nil)
        #expect(try store.agent(id: 3)?.groupHash == nil)
        // A belongs change made behind the CSV's back (swapped priorities) is picked up too.
        try store.execForTest("UPDATE belongs SET priority = 1 - priority + 10 WHERE id_agent = 1")
        try store.recalculateAgentGroupHashes()
        #expect(try store.agent(id: 1)?.groups == ["b", "a"])
        #expect(try store.agent(id: 1)?.groupHash == StoreTest.agentHash("b,a"))
    }

    @Test func syncStatusConditionListsChangedAgentsOnceWithTheHash() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1, 2, 3])
        _ = try set(store, "override", "syncreq", [(3, ["web", "default"]), (1, [])])
        let hash = try #require(try store.globalGroupHash())
        let first = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true)
        #expect(first.status == "ok")
        #expect(first.payload == #"[{"data":[{"id":1,"groups":[]},{"id":3,"groups":["web","default"]}],"hash":"\#(hash)"}]"#)
        let second = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true)
        #expect(second.payload == #"[{"data":[],"hash":"\#(hash)"}]"#)
        // Without set_synced the rows stay pending; without get_global_hash there is no hash key.
        _ = try set(store, "override", "syncreq", [(2, ["x"])])
        let peek = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: false, getGlobalHash: false)
        #expect(peek.payload == #"[{"data":[{"id":2,"groups":["x"]}]}]"#)
        #expect(try store.agent(id: 2)?.groupSyncStatus == "syncreq")
    }

    @Test func hashOnlyQueryAndEmptyDatabase() throws {
        let empty = try StoreTest.store(TemporaryDirectory())
        #expect(try empty.syncAgentGroupsGet(condition: nil, setSynced: false, getGlobalHash: true)
                == (status: "ok", payload: #"[{"data":[],"hash":null}]"#))
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: [1])
        let r = try store.syncAgentGroupsGet(condition: nil, setSynced: false, getGlobalHash: true)
        #expect(r.payload == #"[{"data":[],"hash":"\#(StoreTest.globalHash(["default"]))"}]"#)
    }

    @Test func allConditionPagesOnLastIDWithTheHashOnlyOnTheLastChunk() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, agents: Array(1...60))
        _ = try set(store, "override", "synced", (1...60).map { ($0, $0 % 3 == 0 ? ["default", "g\($0 % 5)"] : ["default"]) })
        let limit = 600
        var lastID = 0
        var chunks: [(status: String, payload: String)] = []
        repeat {
            let r = try store.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: true, lastID: lastID,
                                                 maxResponseBytes: limit)
            chunks.append(r)
            let data = try #require(try JSONParser.parse(r.payload)[0]?["data"]?.arrayValue)
            lastID = Int(data.last?["id"]?.intValue ?? 0)
            #expect(r.status.utf8.count + 1 + r.payload.utf8.count <= limit)
        } while chunks.last?.status == "due"
        #expect(chunks.count > 3)
        var seen: [Int] = []
        for (i, c) in chunks.enumerated() {
            let object = try #require(try JSONParser.parse(c.payload).arrayValue?.first?.objectValue)
            #expect(object.keys == (i == chunks.count - 1 ? ["data", "hash"] : ["data"]))
            for item in object["data"]?.arrayValue ?? [] {
                let id = Int(item["id"]?.intValue ?? -1)
                seen.append(id)
                #expect(item["groups"] == (id % 3 == 0 ? ["default", .string("g\(id % 5)")] : ["default"]))
            }
        }
        #expect(seen == Array(1...60))
        #expect(try JSONParser.parse(chunks.last!.payload)[0]?["hash"]?.stringValue == (try store.globalGroupHash()))
    }
}

extension JSONValue {
    /// Element `i` of an array value.
    fileprivate subscript(i: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(i) else { return nil }
        return a[i]
    }
}
