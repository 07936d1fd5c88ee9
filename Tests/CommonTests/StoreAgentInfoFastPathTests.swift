import Foundation
import Testing
@testable import Common

/// The byte-level agent-info get and set against the JSONValue reference (AgentStore+AgentInfoReference):
/// same text, same database afterwards, same errors.
@Suite struct StoreAgentInfoFastPathTests {
    /// Agents 1…6 marked `syncreq`, with every storage class and awkward text wazuh-db's columns can hold.
    private func awkwardStore() throws -> AgentStore {
        let store = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: Array(1...6))
        let sql = [
            // Quotes, backslashes, named and unnamed control characters, DEL, non-ASCII up to 4 bytes.
            "UPDATE agent SET ip = 'q\"b\\' || char(10, 13, 9, 8, 12, 1, 31, 127) || 'é中😀', os_name = '', "
                + "os_version = 'Ubuntu', version = 'Wazuh v4.8.1' WHERE id = 1",
            // Numbers in the INTEGER columns (TEXT ones store numbers as text): extremes, doubles, text.
            "UPDATE agent SET last_keepalive = 'soon', disconnection_time = 1e-05, status_code = 1e16 WHERE id = 2",
            "UPDATE agent SET last_keepalive = 9223372036854775807, disconnection_time = -9223372036854775808, "
                + "status_code = 9e999 WHERE id = 3",
            "UPDATE agent SET disconnection_time = -0.5, status_code = 2.5 WHERE id = 5",
            // BLOBs, an empty one, and text that is not valid UTF-8.
            "UPDATE agent SET os_uname = x'41420043', os_codename = x'', merged_sum = CAST(x'ff41c3' AS TEXT), "
                + "manager_host = x'c3a9' WHERE id = 3",
            "UPDATE agent SET node_name = NULL, os_platform = NULL, connection_status = 'active' WHERE id = 4",
            "INSERT INTO labels (id, key, value) VALUES (1, 'z\"k', 'v\\' || char(10)), (1, 'a', 'é'), (4, 'n', 12), "
                + "(4, 'm', 2.5), (5, '', '')",
            "UPDATE agent SET sync_status = 'syncreq' WHERE id > 0",
        ]
        for statement in sql { try store.execForTest(statement) }
        return store
    }

    private func dump(_ store: AgentStore) throws -> String {
        let agent = "SELECT group_concat(" + (AgentStore.agentInfoColumns + ["sync_status"]).map { "quote(\($0))" }
            .joined(separator: " || ',' || ") + ", char(10)) FROM (SELECT * FROM agent ORDER BY id)"
        let labels = "SELECT group_concat(quote(id) || ',' || quote(key) || ',' || quote(value), char(10)) "
            + "FROM (SELECT * FROM labels ORDER BY id, key)"
        return (try store.textForTest(agent) ?? "") + "\n--\n" + (try store.textForTest(labels) ?? "")
    }

    private func pages(_ store: AgentStore, limit: Int, reference: Bool) throws -> [String] {
        var out: [String] = []
        var status = "due"
        while status == "due" {
            let r = reference ? try store.syncAgentInfoGetReference(maxResponseBytes: limit)
                : try store.syncAgentInfoGet(maxResponseBytes: limit)
            status = r.status
            out.append(r.status + " " + r.payload)
        }
        return out
    }

    @Test(arguments: [6_291_456, 900, 1])
    func getWritesTheReferenceText(limit: Int) throws {
        let fast = try awkwardStore()
        let reference = try awkwardStore()
        let got = try pages(fast, limit: limit, reference: false)
        #expect(got == (try pages(reference, limit: limit, reference: true)))
        #expect(try dump(fast) == (try dump(reference)))
        #expect(try fast.intsForTest("SELECT count(*) FROM agent WHERE sync_status = 'syncreq'") == [0])
        if limit > 1000 {
            // Spot checks on the text itself, beyond agreeing with the reference.
            let text = got.joined()
            #expect(text.contains(#""ip":"q\"b\\\n\r\t\b\f\u0001\u001f\u007fé中😀""#))
            #expect(text.contains(#""last_keepalive":"soon","connection_status":"never_connected","disconnection_time":1e-05,"#
                + #""group_config_status":"not synced","status_code":10000000000000000}"#))
            #expect(text.contains(#""last_keepalive":9223372036854775807,"#)
                    && text.contains(#""disconnection_time":-9223372036854775808,"# ) && text.contains(#""status_code":Infinity}"#))
            #expect(text.contains(#""os_codename":"","#) && text.contains(#""os_uname":"AB\u0000C""#))
            #expect(text.contains(#""labels":[{"id":1,"key":"a","value":"é"},{"id":1,"key":"z\"k","value":"v\\\n"}]"#))
            #expect(text.contains(#""merged_sum":"\#u{FFFD}A\#u{FFFD}""#))
        }
    }

    @Test func getLeavesRowsMarkedMeanwhileBehindTheCursorForTheNextRound() throws {
        let store = try awkwardStore()
        let first = try store.syncAgentInfoGet(maxResponseBytes: 900)
        #expect(first.status == "due")
        try store.execForTest("UPDATE agent SET sync_status = 'syncreq' WHERE id = 1")
        var status = first.status
        while status == "due" { status = try store.syncAgentInfoGet(maxResponseBytes: 900).status }
        #expect(try store.intsForTest("SELECT id FROM agent WHERE sync_status = 'syncreq'") == [1])
    }

    private enum Path { case fast, fallback }

    /// Applies `chunk` on three identical stores — reference, fast path alone, public entry — and checks
    /// that they end alike; `path` says whether the fast path is expected to take the chunk.
    private func check(_ chunk: String, _ path: Path, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = try awkwardStore(), fast = try awkwardStore(), entry = try awkwardStore()
        let before = try dump(fast)
        let want = outcome { () throws(StoreError) in try reference.syncAgentInfoSetReference(chunk) }
        let fastResult = try fast.syncAgentInfoSetFast(chunk)
        switch path {
        case .fast:
            #expect(fastResult.map { "ok \($0.updated) \($0.foreignKeyErrors)" } == want, sourceLocation: sourceLocation)
            #expect(try dump(fast) == (try dump(reference)), sourceLocation: sourceLocation)
        case .fallback:
            #expect(fastResult == nil, sourceLocation: sourceLocation)
            #expect(try dump(fast) == before, sourceLocation: sourceLocation)
        }
        let got = outcome { () throws(StoreError) in try entry.syncAgentInfoSet(chunk) }
        #expect(got == want, sourceLocation: sourceLocation)
        #expect(try dump(entry) == (try dump(reference)), sourceLocation: sourceLocation)
    }

    /// A result or an error, comparable across stores (the path an error names differs).
    private func outcome(_ body: () throws(StoreError) -> (updated: Int, foreignKeyErrors: Int)) -> String {
        do {
            let r = try body()
            return "ok \(r.updated) \(r.foreignKeyErrors)"
        } catch {
            return "error \(error.kind) \(error.detail) \(error.sqliteCode.map(String.init) ?? "")"
        }
    }

    @Test func setOfAGetChunkTakesTheFastPath() throws {
        let source = try awkwardStore()
        var status = "due"
        while status == "due" {
            let page = try source.syncAgentInfoGet(maxResponseBytes: 900)
            status = page.status
            try check(page.payload, .fast)
        }
    }

    @Test func setValuesAsTheReferenceBindsThem() throws {
        // A worker's rows always carry the two CHECKed columns, which the fast path requires (see there).
        let st = #""connection_status":"active","group_config_status":"synced""#
        try check(#"[]"#, .fast)
        try check(" [ {\n \"id\" : 2 ,\t\"name\":\"n\" ,\r\"connection_status\" : \"disconnected\", "
            + "\"group_config_status\":\"not synced\"} ] \n", .fast)
        // Escapes (an embedded NUL ends the stored text, as the reference's C string does), a null NOT NULL
        // column, booleans, doubles, integers beyond 18 digits, NaN and infinities.
        try check(#"[{"name":"a\"b\\c\/\u00e9\ud83d\ude00\ud800x\u0000tail","id":1,"# + st + #","os_name":true,"#
            + #""os_version":false,"os_major":1.5,"os_minor":-2e-3,"os_build":12345678901234567890,"#
            + #""os_codename":-9223372036854775808,"os_platform":NaN,"os_uname":-Infinity,"os_arch":Infinity,"#
            + #""last_keepalive":-0,"status_code":007}]"#, .fast)
        try check(#"[{"id":1,"name":null,"# + st + "}]", .fast)
        // Unknown keys with any value are skipped; labels in every shape the reference accepts.
        try check(#"[{"id":1,"extra":{"a":[1,{"b":null}]},"more":[],"labels":[{"key":"k","value":null,"id":9,"x":{}},"#
            + #"{"value":3,"key":"k2"},{"key":"k","value":"again"},{"key":"f","value":2.5},{"key":"t","value":true}],"# + st
            + #"},{"id":4,"labels":null,"# + st + #"},{"id":5,"labels":"none","# + st + #"},{"id":3,"labels":{"key":"k"},"# + st
            + #"},{"id":2,"labels":[],"# + st + #"},{"id":6,"# + st + "}]", .fast)
        // Labels added by an earlier agent of the same chunk are replaced when the id comes again.
        let fresh = try awkwardStore()
        try fresh.execForTest("DELETE FROM labels")
        #expect(try fresh.syncAgentInfoSet(#"[{"id":2,"labels":[{"key":"a","value":"1"}],"# + st + #"},{"id":2,"# + st + "}]")
                == (updated: 2, foreignKeyErrors: 0))
        #expect(try fresh.intsForTest("SELECT count(*) FROM labels") == [0])
        // Unknown ids, the manager's row and negative ids are counted, never written.
        try check(#"[{"id":99,"name":"ghost","labels":[{"key":"k","value":"v"}],"# + st + #"},{"id":0,"name":"x","# + st
            + #"},{"id":-3,"# + st + #"},{"id":1,"# + st + "}]", .fast)
        try check(#"[{"id":99,"labels":[{"value":"no key"}],"# + st + "}]", .fallback)  // the reference never looks at it
    }

    @Test func setGivesUnusualChunksToTheReference() throws {
        let st = #""connection_status":"active","group_config_status":"synced""#
        try check(#"[{"id":1,"os\u005fname":"escaped key","# + st + "}]", .fallback)
        try check(#"[{"id":1,"name":"first","name":"second","# + st + "}]", .fallback)
        try check(#"[{"id":1.0,"name":"one","# + st + "}]", .fallback)
        try check(#"[{"id":1e0,"name":"one","# + st + "}]", .fallback)
        try check(#"[{"id":1,"labels":[{"key":1,"key":"k"}],"# + st + "}]", .fallback)
        // Without both CHECKed columns as plain allowed texts the constraints are left to SQLite.
        try check(#"[{"id":1,"name":"n"}]"#, .fallback)
        try check(#"[{"id":1,"connection_status":"active"}]"#, .fallback)
        try check(#"[{"id":1,"connection_status":null,"group_config_status":"synced"}]"#, .fallback)
        try check(#"[{"id":1,"connection_status":"\u0061ctive","group_config_status":"synced"}]"#, .fallback)
        try check(#"[{"id":1,"connection_status":"active","group_config_status":1}]"#, .fallback)
    }

    @Test func checkConstraintsHoldAgainAfterASet() throws {
        let store = try awkwardStore()
        _ = try store.syncAgentInfoSet(#"[{"id":1,"connection_status":"active","group_config_status":"synced"}]"#)
        #expect(StoreTest.storeError { try store.execForTest("UPDATE agent SET connection_status = 'bogus' WHERE id = 1") }?
            .detail.contains("CHECK constraint failed") == true)
    }

    @Test func setErrorsAreTheReferenceErrors() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        for chunk in [
            #"{"id":1}"#, #"[{"id":1,"#, #"[{"id":1}] x"#, #"[{"id":1},]"#, #"[{"id":1,}]"#, #"[1]"#, #"[{"name":"x"}]"#,
            #"[{"id":"1"}]"#, #"[{"id":true}]"#, #"[{"id":1,"os_name":{"a":1}}]"#, #"[{"id":1,"os_name":[1]}]"#,
            #"[{"id":1,"labels":[{"value":"v"}]}]"#, #"[{"id":1,"labels":["k"]}]"#, #"[{"id":1,"labels":[{"key":"k","value":[]}]}]"#,
            #"[{"id":1,"connection_status":"bogus"}]"#, #"[{"id":1,"name":"a\qb"}]"#, "[{\"id\":1,\"name\":\"a\u{01}\"}]",
            #"[{"id":1,"x":"# + deep + "}]", #"[{"id":1,"name":-}]"#, #"[{"id":1,"name":tru}]"#, #"[{"id":1,"name":"\u12"}]"#,
        ] {
            try check(chunk, .fallback)
        }
    }

    @Test func commandsLeaveTheLogForCheckpointAndRestoreAutomaticCheckpoints() throws {
        let store = try awkwardStore()
        _ = try store.syncAgentInfoGet()
        #expect(try store.intsForTest("PRAGMA wal_autocheckpoint") == [1000])
        let st = #""connection_status":"active","group_config_status":"synced""#
        for chunk in [#"[{"id":1,"# + st + "}]", #"[{"id":1,"name":"a","name":"b","# + st + "}]", #"[{"id":1,"os_name":[]}]"#] {
            _ = try? store.syncAgentInfoSet(chunk)  // fast, reference, refused
            #expect(try store.intsForTest("PRAGMA wal_autocheckpoint") == [1000])
        }
        try store.checkpoint()
    }
}
