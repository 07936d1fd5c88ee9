@testable import ClusterNode
import Common
import Testing

/// Result encoding and merging (LOCAL-DAPI-CONTROL.md §2.2, §2.6), against the 4.8.1 captures.
@Suite struct DapiOutcomeEncodingTests {
    /// Every captured answer that is a result or an exception decodes and encodes back to the same JSON.
    @Test func everyCapturedAnswerRoundTrips() throws {
        var checked = 0
        for call in DapiFixtures.calls.values {
            guard let response = call.response, response["__wazuh_result__"] != nil || response["__wazuh_exception__"] != nil else { continue }
            let outcome = DapiOutcome.decode(response)
            #expect(jsonDifference(outcome.json, response) == nil, "\(call.name): \(jsonDifference(outcome.json, response) ?? "")")
            checked += 1
        }
        #expect(checked >= 25)
    }

    @Test func textThatIsNotJSONBecomesAMessage() {
        #expect(DapiOutcome.decode(Array("No module named 'x'".utf8)) == .result(WazuhResultValue(JSONObject([("message", "No module named 'x'")]))))
    }

    @Test func exceptionTextAndTitles() {
        let e = WazuhException.decode(try! JSONParser.parse(Array(DapiFixtures.call("agent.delete_agents").rawResponse!.utf8)))
        #expect(e.kind == .error && e.code == 1726 && e.dapiErrors["master-node"]?["error"] == "Wazuh authd is not running")
        #expect(WazuhException.notFound(1730).description == "Error 1730 - Node does not exist")
        #expect(WazuhException.internal(1010, "/var/ossec/queue/alerts/ar").objectJSON["title"] == "Wazuh Internal Error")
        // WazuhError and its subclasses carry ids; the others do not.
        #expect(WazuhException.notFound(1730).objectJSON["ids"] == .array([]))
        #expect(WazuhException.cluster(3022).objectJSON["ids"] == nil)
    }

    @Test func renderingPicksTheMessageAndErrorLevel() throws {
        let partial = DapiOutcome.decode(DapiFixtures.call("cluster.get_nodes_info.unknown_node").response!)
        guard case .affected(let a) = partial else { Issue.record("not an affected-items result"); return }
        let expected = DapiFixtures.call("cluster.get_nodes_info.unknown_node").record["rendered"]!
        #expect(jsonDifference(a.rendered, expected) == nil, "\(jsonDifference(a.rendered, expected) ?? "")")
        guard case .affected(let none) = DapiOutcome.decode(DapiFixtures.call("agent.get_agents.unknown_id").response!) else { return }
        #expect(none.rendered["error"] == 1 && none.rendered["message"] == "No agent information was returned")
    }
}

@Suite struct DapiMergeTests {
    static func agents(_ ids: [String], failed: [(Int, [String])] = []) -> AffectedItems {
        var a = AffectedItems(allMsg: "all", someMsg: "some", noneMsg: "none")
        a.affectedItems = ids.map { ["id": .string($0)] }
        a.totalAffectedItems = ids.count
        for (code, ids) in failed { for id in ids { a.addFailed(id: id, error: .notFound(code)) } }
        return a
    }

    static func ids(_ o: DapiOutcome) -> [String] {
        guard case .affected(let a) = o else { return [] }
        return a.affectedItems.compactMap { $0["id"]?.stringValue }
    }

    @Test func affectedItemsMergeInIdOrderAndSumTotals() {
        var a = Self.agents(["001", "003", "010"])
        a.sortFields = ["id"]
        let b = Self.agents(["002", "004", "011"])
        let merged = DapiOutcome.affected(a).merged(with: .affected(b))
        #expect(Self.ids(merged) == ["001", "002", "003", "004", "010", "011"])
        guard case .affected(let m) = merged else { return }
        #expect(m.totalAffectedItems == 6)
    }

    @Test func withoutSortFieldsTheItemsThemselvesAreCastToInt() {
        var a = AffectedItems()
        a.affectedItems = ["2", "10"]
        var b = AffectedItems()
        b.affectedItems = ["9", "11"]
        guard case .affected(let m) = DapiOutcome.affected(a).merged(with: .affected(b)) else { return }
        // As numbers, not as text ("10" < "9").
        #expect(m.affectedItems == ["2", "9", "10", "11"])
    }

    @Test func descendingOrderAndStringCasting() {
        var a = AffectedItems(sortFields: ["name"], sortCasting: ["str"], sortAscending: [false])
        a.affectedItems = [["name": "web"], ["name": "db"]]
        var b = a
        b.affectedItems = [["name": "zeta"], ["name": "app"]]
        guard case .affected(let m) = DapiOutcome.affected(a).merged(with: .affected(b)) else { return }
        #expect(m.affectedItems.compactMap { $0["name"]?.stringValue } == ["zeta", "web", "db", "app"])
    }

    @Test func failedItemsAreUnionedByError() {
        let a = Self.agents(["001"], failed: [(1701, ["999"])])
        let b = Self.agents(["002"], failed: [(1701, ["998", "999"]), (1730, ["nope"])])
        guard case .affected(let m) = DapiOutcome.affected(a).merged(with: .affected(b)) else { return }
        #expect(m.failedItems.count == 2)
        #expect(m.failedItems[0].ids == ["999", "998"] && m.failedItems[1].ids == ["nope"])
        #expect(m.totalFailedItems == 3)
    }

    @Test func aWazuhErrorWithIdsBecomesFailedItemsInEitherOrder() {
        let notConnected = DapiOutcome.exception(.error(3022, nil, ids: ["worker2"]))
        for merged in [DapiOutcome.affected(Self.agents(["001"])).merged(with: notConnected),
                       notConnected.merged(with: .affected(Self.agents(["001"])))] {
            guard case .affected(let m) = merged else { Issue.record("the error replaced the result"); continue }
            #expect(Self.ids(merged) == ["001"])
            #expect(m.failedItems.map(\.ids) == [["worker2"]] && m.failedItems[0].error.code == 3022)
            #expect(m.failedItems[0].error.ids.isEmpty)
        }
    }

    @Test func anExceptionWithoutIdsWins() {
        let e = DapiOutcome.exception(.internal(1010, "/x"))
        #expect(DapiOutcome.affected(Self.agents(["001"])).merged(with: e) == e)
        #expect(DapiOutcome.result(WazuhResultValue(JSONObject())).merged(with: e) == e)
    }

    /// `m.agent.restart_agents.multi`: worker1's, worker2's and the master's 1010 merge into one exception
    /// whose dapi_errors name all three nodes.
    @Test func exceptionsMergeTheirDapiErrorsAsCaptured() throws {
        let call = DapiFixtures.call("m.agent.restart_agents.multi")
        var answers: [DapiOutcome] = []
        for exchange in call.record["exchanges"]?.arrayValue ?? [] {
            for frame in exchange["frames"]?.arrayValue ?? [] where frame["raw_cmd"]?.stringValue?.hasPrefix("str_upd") == true {
                let payload = frame["payload"]?.stringValue ?? ""
                let json = String(payload.drop(while: { $0 != " " }).dropFirst())
                answers.append(DapiOutcome.decode(Array(json.utf8)))
            }
        }
        #expect(answers.count == 2)
        var master = WazuhException.internal(1010, "/var/ossec/queue/alerts/ar")
        master.dapiErrors["master-node"] = ["error": "Unable to connect to queue: /var/ossec/queue/alerts/ar", "logfile": "WAZUH_HOME/logs/api.log"]
        answers.append(.exception(master))
        let merged = try #require(DapiOutcome.merging(answers))
        let wire = try JSONParser.parse(Array(call.record["dapi_calls"]!.arrayValue![0]["result_wire"]!.stringValue!.utf8))
        #expect(jsonDifference(merged.json, wire) == nil, "\(jsonDifference(merged.json, wire) ?? "")")
    }

    @Test func wazuhResultDictsMerge() {
        let a = WazuhResultValue(JSONObject([("n", 1), ("s", "x"), ("l", [1, 2]), ("d", ["a": 1])]))
        let b = WazuhResultValue(JSONObject([("n", 2), ("s", "y"), ("l", [2, 3]), ("d", ["b": 2]), ("new", true)]))
        guard case .result(let m) = DapiOutcome.result(a).merged(with: .result(b)) else { return }
        #expect(m.result["n"] == 3 && m.result["s"] == "x|y" && m.result["l"] == [1, 2, 3] && m.result["new"] == true)
        #expect(m.result["d"] == ["a": 1, "b": 2])
        let prioritised = WazuhResultValue(JSONObject([("s", "y")]), strPriority: ["y", "x"])
        guard case .result(let p) = DapiOutcome.result(WazuhResultValue(JSONObject([("s", "x")]), strPriority: ["y", "x"])).merged(with: .result(prioritised)) else { return }
        #expect(p.result["s"] == "y")
    }
}

/// `get_solver_node()` (§2.4) over the README's agents: 001–005 on worker1, 006–010 on worker2, 011–012
/// never connected (`unknown`), 000 the master.
@Suite struct DapiSolverTests {
    static let rows: [(id: Int, node: String)] = [(0, "master-node")] + (1...5).map { ($0, "worker1") } + (6...10).map { ($0, "worker2") }
        + [(11, "unknown"), (12, "unknown")]

    static func solve(_ kwargs: JSONObject, broadcasting: Bool = false) -> DapiSolver.Targets? {
        DapiSolver.solve(kwargs: kwargs, broadcasting: broadcasting, masterName: "master-node", agentNodes: { ids, nodes in
            rows.filter { r in (ids.map { $0.contains(r.id) } ?? true) && (nodes.map { $0.contains(r.node) } ?? true) }
        }, nodeNames: { Array(Set(rows.map(\.node))).sorted(by: >) })
    }

    @Test func agentsGoToTheNodeTheyReportTo() {
        let t = Self.solve(JSONObject([("agent_list", ["001", "007", "011"])]))
        #expect(t?.pairs.map(\.0) == ["worker1", "worker2", "unknown"])
        #expect(t?.ids["worker1"] == ["001"] && t?.ids["worker2"] == ["007"] && t?.ids["unknown"] == ["011"])
        // Unknown and never-connected agents fold into the master.
        let folded = DapiSolver.folded(t!, masterName: "master-node")
        #expect(folded.pairs.map(\.0) == ["worker1", "worker2", "master-node"] && folded.ids["master-node"] == ["011"])
    }

    @Test func agentsThatDoNotExistAreTheMastersToAnswer() {
        let t = Self.solve(JSONObject([("agent_list", ["003", "999"])]))
        #expect(t?.pairs.map(\.0) == ["worker1", "master-node"] && t?.ids["master-node"] == ["999"])
    }

    @Test func allAgentsMeansEveryNodeWithAgents() {
        let t = Self.solve(JSONObject([("agent_list", "*")]))
        #expect(Set(t?.names ?? []) == ["master-node", "worker1", "worker2", "unknown"])
        #expect(t?.ids["worker2"] == ["006", "007", "008", "009", "010"])
    }

    @Test func aNodeFilterWithAgents() {
        let t = Self.solve(JSONObject([("agent_list", "*"), ("node_id", "worker2")]))
        #expect(t?.names == ["worker2"] && t?.ids["worker2"]?.count == 5)
        // A named node without agents is still asked.
        let empty = Self.solve(JSONObject([("agent_list", "*"), ("node_id", "worker9")]))
        #expect(empty?.pairs.map(\.0) == ["worker9"] && empty?.ids["worker9"] == [])
    }

    @Test func nodeKwargsWithoutAgents() {
        #expect(Self.solve(JSONObject([("node_id", "worker2")]))?.names == ["worker2"])
        #expect(Self.solve(JSONObject([("node_list", ["worker1", "nope"])]))?.names == ["worker1", "nope"])
    }

    @Test func broadcastingIsEveryNode() {
        #expect(Self.solve(JSONObject([("node_list", "*")]), broadcasting: true) == nil)
        #expect(Self.solve(JSONObject(), broadcasting: true) == nil)
        // Neither agents, nodes nor broadcast: the nodes agents report to.
        #expect(Self.solve(JSONObject())?.names == ["worker2", "worker1", "unknown", "master-node"])
    }
}
