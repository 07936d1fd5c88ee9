import Foundation
import Testing
@testable import Common

/// `cluster_control` text, character for character against what 4.8.1 printed
/// (`cluster_control-output.txt`), from the JSON the real master sent (session3 captures).
@Suite struct ControlOutputTests {
    @Test func listNodes() throws {
        let outputs = try ControlFixtures.outputs()
        let items = try #require(ControlFixtures.nodes()["items"]?.arrayValue)
        #expect(ControlOutput.nodesTable(items: items) == outputs["-l"])
        let worker = items.filter { $0["name"] == "worker1" }
        #expect(ControlOutput.nodesTable(items: worker) == outputs["-l -fn worker1"])
    }

    @Test func listNodesSpecExample() {
        let items: [JSONValue] = [
            ["name": "master-node", "type": "master", "version": "4.8.1", "ip": "10.0.0.10"],
            ["name": "worker1", "type": "worker", "version": "4.8.1", "ip": "10.0.0.11"],
        ]
        // Every cell is padded, so the lines end in two spaces.
        #expect(ControlOutput.nodesTable(items: items) == [
            "NAME         TYPE    VERSION  ADDRESS    ",
            "master-node  master  4.8.1    10.0.0.10  ",
            "worker1      worker  4.8.1    10.0.0.11  ",
        ].joined(separator: "\n") + "\n")
        #expect(ControlOutput.nodesTable(items: []) == "NAME  TYPE  VERSION  ADDRESS  \n")
    }

    @Test func listAgentsFilteredOnAWorker() throws {
        let outputs = try ControlFixtures.outputs()
        let result = try ClusterControlRequests.agentsResult(JSONParser.parse(ControlFixtures.agentsResultText()))
        let items = try #require(result["items"]?.arrayValue)
        #expect(items.count == 5)
        #expect(ControlOutput.agentsTable(items: items) == outputs["-a -fs active -fn worker1"])
    }

    @Test func listAgentsFillsMissingFieldsWithUnknown() throws {
        let outputs = try ControlFixtures.outputs()
        // The manager's own agent 000 came without version and node_name; control.get_agents fills them.
        let fixture = try JSONParser.parse(ControlFixtures.agentsResultText())
        var items: [JSONValue] = [["id": "000", "name": "localhost", "ip": "127.0.0.1", "status": "active"]]
        items += try #require(fixture["__wazuh_result__"]?["__object__"]?["result"]?["items"]?.arrayValue)
        let result = try ClusterControlRequests.agentsResult(["items": .array(items), "totalItems": 6])
        #expect(result["items"]?.arrayValue?[0]["node_name"] == "unknown")
        #expect(ControlOutput.agentsTable(items: result["items"]?.arrayValue ?? []) == outputs["-a"])
    }

    @Test func healthSummary() throws {
        let outputs = try ControlFixtures.outputs()
        let health = try ControlFixtures.health(workerStatus: [
            (["last_check_integrity", "date_end_master"], "2026-11-26T19:18:25.320921Z"),
            (["last_sync_integrity", "date_end_master"], "2026-11-26T19:17:49.263865Z"),
            (["last_sync_agentinfo", "date_end_master"], "2026-11-26T19:17:18.097941Z"),
            (["last_sync_agentgroup", "date_end"], "n/a"),
            (["last_sync_full_agentgroup", "date_end"], "n/a"),
            (["last_keep_alive"], "2026-11-26T19:18:28.049692Z"),
        ])
        // The health report ends with an empty print(): one newline more than the recording's section.
        #expect(ControlOutput.health(clusterName: "wazuh", health: health, more: false) == outputs["-i"]! + "\n")
    }

    @Test func healthMore() throws {
        let outputs = try ControlFixtures.outputs()
        let health = try ControlFixtures.health(workerStatus: [
            (["last_keep_alive"], "2026-11-26T19:18:28.049692Z"),
            (["last_check_integrity", "date_start_master"], "2026-11-26T19:18:34.329960Z"),
            (["last_check_integrity", "date_end_master"], "2026-11-26T19:18:34.348901Z"),
            (["last_sync_integrity", "date_start_master"], "2026-11-26T19:17:49.257248Z"),
            (["last_sync_integrity", "date_end_master"], "2026-11-26T19:17:49.263865Z"),
            (["last_sync_integrity", "total_files"], ["missing": 1, "extra": 0, "shared": 0]),
            (["last_sync_agentgroup", "date_start"], "2026-11-26T19:18:24.485771Z"),
            (["last_sync_agentgroup", "date_end"], "n/a"),
            (["last_sync_full_agentgroup", "date_start"], "n/a"),
            (["last_sync_full_agentgroup", "date_end"], "n/a"),
            (["last_sync_full_agentgroup", "n_synced_chunks"], 0),
        ])
        #expect(ControlOutput.health(clusterName: "wazuh", health: health, more: true) == outputs["-i more"]! + "\n")
    }

    /// The capture's own health reply, as 4.8.1 would print it (durations worked out by hand).
    @Test func healthOfTheCapturedReply() throws {
        let health = try ControlFixtures.health()
        #expect(ControlOutput.health(clusterName: "wazuh", health: health, more: false) == """
            Cluster name: wazuh

            Last completed synchronization for connected nodes (1):
                worker1 (127.0.0.1): Integrity check: 2026-11-26T19:22:19.839000Z | Integrity sync: 2026-11-26T19:20:58.647059Z | Agents-info: 2026-11-26T19:17:18.097941Z | Agent-groups: n/a | Agent-groups full: 2026-11-26T19:22:14.632550Z | Last keep alive: 2026-11-26T19:21:28.062495Z.


            """)
        let more = ControlOutput.health(clusterName: "wazuh", health: health, more: true)
        #expect(more.contains("                Last integrity check: 0.017s (2026-11-26T19:22:19.821864Z - 2026-11-26T19:22:19.839000Z).\n"))
        #expect(more.contains("                Last integrity synchronization: 0.006s (2026-11-26T19:20:58.640907Z - 2026-11-26T19:20:58.647059Z).\n"))
        #expect(more.contains("                Synchronized files: Shared: 1 | Missing: 0 | Extra: 0.\n"))
        #expect(more.contains("                Last synchronization: n/a (2026-11-26T19:22:14.577670Z - n/a).\n"))
        #expect(more.contains("            Agents-groups full:\n                Last synchronization: 0.035s (2026-11-26T19:22:14.597267Z - 2026-11-26T19:22:14.632550Z).\n                Number of synchronized chunks: 1.\n"))
        #expect(more.hasSuffix("Number of synchronized chunks: 1.\n\n"))
    }

    @Test func healthWithNoNodes() {
        let health: JSONValue = ["n_connected_nodes": 0, "nodes": [:]]
        #expect(ControlOutput.health(clusterName: "c", health: health, more: false)
                == "Cluster name: c\n\nLast completed synchronization for connected nodes (0):\n\n")
        #expect(ControlOutput.health(clusterName: "c", health: health, more: true) == "Cluster name: c\n\nConnected nodes (0):\n\n")
    }

    @Test func calculateSeconds() {
        let t = "2026-11-26T19:18:34.329960Z"
        #expect(ControlOutput.calculateSeconds(start: "n/a", end: t) == "n/a")
        #expect(ControlOutput.calculateSeconds(start: t, end: "n/a") == "n/a")
        #expect(ControlOutput.calculateSeconds(start: t, end: "2026-11-26T19:18:34.348901Z") == "0.019s")
        #expect(ControlOutput.calculateSeconds(start: t, end: "2026-11-26T19:18:35.329960Z") == "1.0s")
        #expect(ControlOutput.calculateSeconds(start: "2026-11-26T19:18:00.000000Z", end: "2026-11-26T19:18:12.345678Z") == "12.346s")
        #expect(ControlOutput.calculateSeconds(start: t, end: t) == "0.001s")
        #expect(ControlOutput.calculateSeconds(start: t, end: "2026-11-26T19:18:34.330459Z") == "0.001s")  // 0.000499
        #expect(ControlOutput.calculateSeconds(start: t, end: "2026-11-26T19:18:34.330460Z") == "0.001s")  // 0.0005
        #expect(ControlOutput.calculateSeconds(start: "2026-11-26T19:18:35.000000Z", end: t) == "0.001s")  // negative
        // Across midnight and a month end; %f with fewer than six digits.
        #expect(ControlOutput.calculateSeconds(start: "2026-11-30T23:59:59.5Z", end: "2026-12-01T00:00:01.25Z") == "1.75s")
        #expect(ControlOutput.calculateSeconds(start: "2024-02-28T00:00:00.0Z", end: "2024-03-01T00:00:00.0Z") == "172800.0s")
        // Python rounds the exact binary value half-even: 0.0625 is exact, so it goes to the even 0.062.
        #expect(ControlOutput.calculateSeconds(start: "2026-01-01T00:00:00.000000Z", end: "2026-01-01T00:00:00.062500Z") == "0.062s")
    }

    @Test func pythonStr() {
        #expect(PythonText.str(true) == "True")
        #expect(PythonText.str(nil) == "None")
        #expect(PythonText.str(5) == "5")
        #expect(PythonText.str(2.0) == "2.0")
        #expect(PythonText.str("it's") == "it's")
        #expect(PythonText.str(["a": ["x", 1], "b": "it's"]) == #"{'a': ['x', 1], 'b': "it's"}"#)
        #expect(PythonText.ljust("é", 3) == "é  ")
    }

    @Test func errorLineOfAnUnknownNode() throws {
        let outputs = try ControlFixtures.outputs()
        let e = WazuhException(.error, code: 1730)
        #expect("ERROR: \(e)\n" == outputs["-l -fn nosuchnode"])
    }
}
