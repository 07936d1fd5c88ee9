import Foundation
import Testing
@testable import Common

/// The wazuh-db text interface over the store: the queries 4.8.1's cluster sends, the answers it parses.
@Suite struct StoreWazuhDBTests {
    @Test func masterGroupsQueryAsPythonSendsIt() throws {
        let store = try StoreTest.store(TemporaryDirectory(), agents: [1, 2])
        _ = try store.setAgentGroups(#"{"mode":"override","sync_status":"syncreq","data":[{"id":2,"groups":["default","web"]}]}"#)
        let hash = try #require(try store.globalGroupHash())
        let query = #"global sync-agent-groups-get {"condition": "sync_status", "set_synced": true, "get_global_hash": true}"#
        #expect(store.wazuhDB(query) == #"ok [{"data":[{"id":2,"groups":["default","web"]}],"hash":"\#(hash)"}]"#)
        #expect(store.wazuhDB(query) == #"ok [{"data":[],"hash":"\#(hash)"}]"#)
        #expect(store.wazuhDB(#"global sync-agent-groups-get {"get_global_hash": true}"#) == #"ok [{"data":[],"hash":"\#(hash)"}]"#)
        let full = #"global sync-agent-groups-get {"condition": "all", "set_synced": false, "get_global_hash": false, "last_id": 1}"#
        #expect(store.wazuhDB(full) == #"ok [{"data":[{"id":2,"groups":["default","web"]}]}]"#)
        #expect(store.wazuhDB("global recalculate-agent-group-hashes") == "ok")
    }

    /// Session 1's fresh worker answered the incremental chunk with this error: agent 6 was not in its
    /// database yet. With the agent present the same command succeeds.
    @Test func setAgentGroupsForAnUnknownAgentAnswersWazuhDBsError() throws {
        let chunks = try StoreFixtureTests.envelopes(command: "global set-agent-groups").flatMap(\.chunks)
        let incremental = try #require(chunks.first { $0.contains(#"{"id":6,"#) && $0.contains("hash") })
        let data = try JSONParser.parse(incremental).arrayValue?.first?["data"]
        let query = "global set-agent-groups " + StoreFixtureTests.command(data: data)
        #expect(query == #"global set-agent-groups {"mode":"override","sync_status":"synced","data":[{"id":6,"groups":["default","webservers"]}]}"#)

        let fresh = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: [1, 2])
        #expect(fresh.wazuhDB(query) == "err An error occurred during the set of the groups")
        let ready = try StoreTest.store(TemporaryDirectory(), node: "worker2", agents: [6])
        #expect(ready.wazuhDB(query) == "ok")
        #expect(try ready.agent(id: 6)?.groups == ["default", "webservers"])
    }

    @Test func agentInfoQueries() throws {
        let store = try StoreTest.store(TemporaryDirectory(), agents: [1])
        #expect(store.wazuhDB("global sync-agent-info-get ") == "ok []")
        #expect(store.wazuhDB(#"global sync-agent-info-set [{"id":1,"node_name":"worker1"}]"#) == "ok")
        #expect(try store.agent(id: 1)?.nodeName == "worker1")
        #expect(store.wazuhDB(#"global sync-agent-info-set [{"id":5,"labels":[{"id":5,"key":"a","value":"b"}]}]"#)
                == "err Cannot execute Global database query; FOREIGN KEY constraint failed")
    }

    @Test func malformedQueriesAnswerErr() throws {
        let store = try StoreTest.store(TemporaryDirectory())
        #expect(store.wazuhDB("global drop-everything") == "err Invalid DB query syntax, near 'drop-everything'")
        let badCondition = store.wazuhDB(#"global sync-agent-groups-get {"condition":"some"}"#)
        #expect(badCondition.hasPrefix("err ") && badCondition.contains("condition must be"))
        #expect(store.wazuhDB(#"global sync-agent-groups-get {"last_id":-1}"#).contains("last_id"))
        #expect(store.wazuhDB(#"global sync-agent-groups-get {"set_synced":"yes"}"#).contains("set_synced"))
        #expect(store.wazuhDB("global set-agent-groups {").hasPrefix("err agent database"))
        #expect(store.wazuhDB("global sync-agent-info-set nope").contains("invalid JSON"))
    }
}
