import Foundation
import Testing
@testable import Common

/// The `q` language: the tree each form parses to, the errors, and what the SQL it becomes selects.
@Suite struct WazuhQueryTests {
    func parse(_ q: String) throws -> WazuhQuery { try WazuhQuery.parse(q) }

    func failure(_ q: String) -> WazuhException? {
        do {
            _ = try WazuhQuery.parse(q)
            return nil
        } catch {
            return error
        }
    }

    @Test func eachOperator() throws {
        for op in WazuhQuery.Operator.allCases {
            #expect(try parse("name\(op.rawValue)agent-1") == .condition(field: "name", op: op, value: "agent-1"))
        }
        #expect(try parse("os.name=Ubuntu") == .condition(field: "os.name", op: .equal, value: "Ubuntu"))
        // A value may hold spaces, '=', '<', '!' and be empty.
        #expect(try parse("os.uname~Linux |x = <y>!") == .condition(field: "os.uname", op: .like, value: "Linux |x = <y>!"))
        #expect(try parse("version=") == .condition(field: "version", op: .equal, value: ""))
    }

    @Test func andBindsTighterThanOr() throws {
        let a = WazuhQuery.condition(field: "a", op: .equal, value: "1")
        let b = WazuhQuery.condition(field: "b", op: .equal, value: "2")
        let c = WazuhQuery.condition(field: "c", op: .equal, value: "3")
        #expect(try parse("a=1,b=2;c=3") == .or([a, .and([b, c])]))
        #expect(try parse("a=1;b=2,c=3") == .or([.and([a, b]), c]))
        #expect(try parse("(a=1,b=2);c=3") == .and([.or([a, b]), c]))
        #expect(try parse("((a=1))") == a)
        #expect(try parse("a=1;(b=2,(c=3;a=1))") == .and([a, .or([b, .and([c, a])])]))
    }

    @Test func malformedQueriesNameTheProblem() throws {
        let cases: [(String, Int, String)] = [
            ("", 1407, "expected a field name at the end"),
            ("status=active;", 1407, "expected a field name at the end"),
            ("(status=active", 1407, "the '(' at position 1 is not closed"),
            ("status=active)", 1407, "unexpected ')' at position 14"),
            ("status", 1407, "field 'status' has no operator and value"),
            (";id=1", 1407, "expected a field name at position 1, found ';'"),
            ("name=a(b)", 1407, "'(' inside the value of 'name' at position 7"),
            ("id>=1", 1409, "'>=' after field 'id' at position 3"),
            ("id<=1", 1409, "'<=' after field 'id'"),
            ("id!1", 1409, "'!' after field 'id' at position 3"),
            ("id#1", 1409, "'#' after field 'id'"),
        ]
        for (q, code, text) in cases {
            let e = failure(q)
            #expect(e?.code == code, "\(q)")
            #expect(e?.message.contains(text) == true, "\(q): \(e?.message ?? "accepted")")
        }
        #expect(failure("id=1)")?.message.hasPrefix("Query does not match expected format: query 'id=1)' is not valid") == true)
    }

    @Test func hostileSizesAreRefused() {
        let deep = String(repeating: "(", count: 40) + "id=1" + String(repeating: ")", count: 40)
        #expect(failure(deep)?.message.contains("nest deeper than 32") == true)
        let many = (0..<300).map { "id=\($0)" }.joined(separator: ",")
        #expect(failure(many)?.message.contains("more than 256 conditions") == true)
        #expect(failure(String(repeating: "a", count: 20_000) + "=1")?.message.contains("longer than") == true)
        #expect(failure(String(repeating: "(", count: 31) + "id=1" + String(repeating: ")", count: 31)) == nil)
    }

    // MARK: the SQL, run on a store

    /// Agents 1…3 (agent-00001…, never connected, group default), plus the manager; agent 2 active on
    /// worker1 with Ubuntu, agent 3 in groups default and web.
    func store(_ dir: TemporaryDirectory) throws -> AgentStore {
        let store = try StoreTest.store(dir, agents: [1, 2, 3])
        try store.recordKeepalive(id: 2, nodeName: "worker1", connectionStatus: "active", os: ["os_name": "Ubuntu", "os_platform": "ubuntu"],
                                  version: "Wazuh v4.8.1", lastKeepalive: Int(Date().timeIntervalSince1970) - 30, syncStatus: "synced")
        #expect(try store.setAgentGroups(#"{"mode":"override","data":[{"id":3,"groups":["default","web"]}]}"#) == 1)
        return store
    }

    func ids(_ store: AgentStore, _ q: String) throws -> [String] {
        var query = AgentQuery()
        query.q = q
        query.select = ["id"]
        return try store.listAgents(try query.compile()).items.compactMap { $0["id"]?.stringValue }
    }

    func error(_ q: String) -> WazuhException? {
        var query = AgentQuery()
        query.q = q
        do {
            _ = try query.compile()
            return nil
        } catch {
            return error
        }
    }

    @Test func queriesSelectTheRightAgents() throws {
        let dir = TemporaryDirectory()
        let s = try store(dir)
        #expect(try ids(s, "name=agent-00002") == ["002"])
        #expect(try ids(s, "name!=agent-00002") == ["000", "001", "003"])
        #expect(try ids(s, "id<2") == ["000", "001"])
        #expect(try ids(s, "id>001") == ["002", "003"])
        #expect(try ids(s, "name~00003,id=1") == ["001", "003"])
        #expect(try ids(s, "(id=1,id=2);name~2") == ["002"])
        #expect(try ids(s, "id=1,id=2;name~2") == ["001", "002"])
        #expect(try ids(s, "status=never_connected") == ["001", "003"])
        #expect(try ids(s, "status!=never_connected;os.name=Ubuntu") == ["002"])
        #expect(try ids(s, "os.platform~ubu") == ["002"])
        #expect(try ids(s, "version=") == ["000", "001", "003"])
        #expect(try ids(s, "group=web") == ["003"])
        #expect(try ids(s, "group!=web;id!=0") == ["001", "002"])
        #expect(try ids(s, "group~efau") == ["001", "002", "003"])
        #expect(try ids(s, "ip=any") == ["001", "002", "003"])
        #expect(try ids(s, "id~00") == ["000", "001", "002", "003"])
        // Dates: a timeframe is an age, a date an instant.
        #expect(try ids(s, "lastKeepAlive<1h") == ["000", "002"])
        #expect(try ids(s, "lastKeepAlive>10s") == ["002"])
        #expect(try ids(s, "dateAdd<2024-01-01") == ["001", "002", "003"])
        #expect(try ids(s, "dateAdd>2023-11-14T22:13:20Z") == ["000"])
        #expect(try ids(s, "dateAdd=2023-11-14 22:13:20") == ["001", "002", "003"])
        // Values are bound parameters: quotes and LIKE wildcards are data.
        #expect(try ids(s, "name=agent-00001' OR '1'='1") == [])
        #expect(try ids(s, "name~%") == [])
        #expect(try ids(s, "name~_") == [])
        #expect(try ids(s, "name~-0000") == ["001", "002", "003"])
    }

    @Test func fieldAndValueErrors() {
        #expect(error("nope=1")?.code == 1408)
        #expect(error("nope=1")?.message.contains("names field 'nope'") == true)
        #expect(error("id=abc")?.code == 1407)
        #expect(error("status_code>x")?.code == 1407)
        #expect(error("dateAdd<tomorrow")?.code == 1412)
        #expect(error("status=active;os.nam=x")?.code == 1408)
        #expect(error("status=active;os.name=x") == nil)
    }

    @Test func datesRenderAsTheFrameworkWritesThem() {
        #expect(WazuhDate.iso(epoch: 253_402_300_799) == "9999-12-31T23:59:59+00:00")
        #expect(WazuhDate.iso(epoch: 1_796_163_276) == "2026-12-01T22:14:36+00:00")
        #expect(WazuhDate.iso(epoch: 0) == "1970-01-01T00:00:00+00:00")
        #expect(WazuhDate.iso(epoch: -1) == "1969-12-31T23:59:59+00:00")
        #expect(WazuhDate.iso(epoch: 86_400) == "1970-01-02T00:00:00+00:00")
        #expect(WazuhDate.iso(epoch: 951_825_600) == "2000-02-29T12:00:00+00:00")
        #expect(AgentQuery.parseDate("2026-12-01T22:14:36Z") == 1_796_163_276)
        #expect(AgentQuery.timeframeSeconds("2h") == 7200 && AgentQuery.timeframeSeconds("45") == 45)
        #expect(AgentQuery.timeframeSeconds("h") == nil && AgentQuery.timeframeSeconds("1y") == nil)
    }
}
