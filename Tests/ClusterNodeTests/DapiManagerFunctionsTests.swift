@testable import ClusterNode
import Common
import Foundation
import Testing

/// `wazuh.manager` functions against the 4.8.1 captures (worker2 and worker1 answering for themselves).
@Suite struct DapiManagerFunctionsTests {
    /// The answer's single affected item, and the envelope without it.
    static func split(_ v: JSONValue) -> (item: JSONObject?, rest: JSONValue) {
        guard var object = v["__wazuh_result__"]?["__object__"]?.objectValue else { return (nil, v) }
        let item = object["affected_items"]?.arrayValue?.first?.objectValue
        object["affected_items"] = []
        return (item, object.isEmpty ? v : .object(object))
    }

    @Test(arguments: ["manager.get_basic_info.worker2", "m.manager.get_basic_info.worker2"])
    func getBasicInfoMatchesTheCapture(name: String) async throws {
        let node = try DapiTestNode(node: "worker2")
        defer { node.remove() }
        let (request, response) = try DapiFixtures.exchange(name)
        let got = try await node.run(request).json
        var (item, rest) = Self.split(got)
        var (want, wantRest) = Self.split(response)
        expectJSON(rest, wantRest, "envelope")
        // path: the node home (the capture's was rewritten to /var/ossec).
        #expect(item?["path"]?.stringValue == node.home)
        item?["path"] = nil
        want?["path"] = nil
        // tz_offset / tz_name depend on the machine's zone: the capture's (UTC) are compared only when this
        // machine is in UTC too; otherwise against the zone Foundation reports.
        let utc = TimeZone.current.secondsFromGMT() == 0
            && ["UTC", "Etc/UTC", "Universal", "Etc/Universal", "Zulu"].contains(TimeZone.current.identifier)
        if utc {
            expectJSON(.object(item ?? JSONObject()), .object(want ?? JSONObject()), "item")
        } else {
            let s = TimeZone.current.secondsFromGMT()
            let offset = String(format: "%@%02d%02d", s < 0 ? "-" : "+", abs(s) / 3600, abs(s) % 3600 / 60)
            #expect(item?["tz_offset"]?.stringValue == offset)
            for key in ["version", "type", "max_agents", "openssl_support"] { #expect(item?[key] == want?[key], "\(key)") }
        }
    }

    static let basicServices = ["wazuh-modulesd", "wazuh-analysisd", "wazuh-execd", "wazuh-db", "wazuh-remoted"]

    @Test(arguments: ["manager.get_status.worker2", "m.manager.get_status.worker1"])
    func getStatusMatchesTheCapture(name: String) async throws {
        // Set-up as the capture's: the five basic services have pid files of a live process (this one).
        let node = try DapiTestNode(node: name.hasSuffix("worker1") ? "worker1" : "worker2")
        defer { node.remove() }
        for d in Self.basicServices { try node.write("var/run/\(d)-\(getpid()).pid", "\(getpid())\n") }
        let (request, response) = try DapiFixtures.exchange(name)
        let got = try await node.run(request)
        expectJSON(got.json, response, name)
        // Key order is 4.8.1's daemon order.
        let item = Self.split(got.json).item
        #expect(item?.keys == Self.split(response).item?.keys)
    }

    @Test func getStatusMarkersAndDeadPids() async throws {
        let node = try DapiTestNode()
        defer { node.remove() }
        try node.write("var/run/wazuh-analysisd-2147483646.pid", "")  // no such process
        try node.write("var/run/wazuh-remoted.failed", "")
        try node.write("var/run/wazuh-execd.start", "")
        guard case .affected(let a) = try await node.run("wazuh.manager", "get_status") else { Issue.record("not affected"); return }
        let s = try #require(a.affectedItems.first)
        #expect(s["wazuh-analysisd"] == "failed")
        #expect(s["wazuh-remoted"] == "failed")
        #expect(s["wazuh-execd"] == "starting")
        #expect(s["wazuh-db"] == "stopped")
        #expect(s["wazuh-clusterd"] == "running")
        try node.write("var/run/.restart", "")
        guard case .affected(let b) = try await node.run("wazuh.manager", "get_status") else { Issue.record("not affected"); return }
        #expect(b.affectedItems.first?["wazuh-db"] == "restarting")
    }

    /// Local `YYYY/MM/DD HH:MM:SS` of a UTC moment, as the logs write it.
    static func local(_ epoch: Int) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = "yyyy/MM/dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }

    static let t0 = 1_796_163_290  // 2026-12-01T22:14:50Z

    static func seedLogs(_ node: DapiTestNode) throws {
        try node.write("logs/ossec.log", """
            \(local(t0)) wazuh-modulesd:syscollector: INFO: Evaluation finished.
            \(local(t0 + 2)) wazuh-remoted[1234]: ERROR: (1210): Queue not accessible.
            continued detail line
            \(local(t0 + 4)) wazuh-analysisd: WARNING: Rule 100001 overwritten.

            """)
        try node.write("logs/cluster.log", """
            \(local(t0 + 1)) INFO: [Local Server] [Main] Serving on /var/ossec/queue/cluster/c-internal.sock
            \(local(t0 + 3)) DEBUG2: [Worker worker1] [Keep alive] Sending keepalive.
            \(local(t0 + 5)) ERROR: [Worker worker1] [Main] Could not connect to master.

            """)
    }

    @Test func ossecLogParsesBothLogsIntoEntries() async throws {
        let node = try DapiTestNode()
        defer { node.remove() }
        try Self.seedLogs(node)
        guard case .affected(let a) = try await node.run("wazuh.manager", "ossec_log", ["offset": 0, "limit": 500]) else {
            Issue.record("not affected"); return
        }
        #expect(a.allMsg == "Logs were successfully read in specified node")
        #expect(a.totalAffectedItems == 6)
        let expected: [JSONValue] = [
            ["timestamp": "2026-12-01T22:14:50Z", "tag": "wazuh-modulesd:syscollector", "level": "info", "description": "Evaluation finished."],
            ["timestamp": "2026-12-01T22:14:51Z", "tag": "wazuh-clusterd", "level": "info",
             "description": "[Local Server] [Main] Serving on /var/ossec/queue/cluster/c-internal.sock"],
            ["timestamp": "2026-12-01T22:14:52Z", "tag": "wazuh-remoted", "level": "error",
             "description": "(1210): Queue not accessible.\ncontinued detail line"],
            ["timestamp": "2026-12-01T22:14:53Z", "tag": "wazuh-clusterd", "level": "debug",
             "description": "[Worker worker1] [Keep alive] Sending keepalive."],
            ["timestamp": "2026-12-01T22:14:54Z", "tag": "wazuh-analysisd", "level": "warning", "description": "Rule 100001 overwritten."],
            ["timestamp": "2026-12-01T22:14:55Z", "tag": "wazuh-clusterd", "level": "error",
             "description": "[Worker worker1] [Main] Could not connect to master."],
        ]
        for (got, want) in zip(a.affectedItems, expected) { expectJSON(got, want, "entry") }

        // The API's defaults for GET /cluster/{node}/logs: newest first; plus tag, level, search, paging.
        guard case .affected(let b) = try await node.run("wazuh.manager", "ossec_log",
            ["sort_by": ["timestamp"], "sort_ascending": false, "tag": "wazuh-clusterd", "offset": 1, "limit": 1]) else {
            Issue.record("not affected"); return
        }
        #expect(b.totalAffectedItems == 3)
        #expect(b.affectedItems.first?["timestamp"] == "2026-12-01T22:14:53Z")
        guard case .affected(let c) = try await node.run("wazuh.manager", "ossec_log",
            ["level": "error", "search_text": "queue", "select": ["tag"]]) else { Issue.record("not affected"); return }
        #expect(c.affectedItems == [["tag": "wazuh-remoted"]])
        guard case .affected(let d) = try await node.run("wazuh.manager", "ossec_log", ["q": "level=error,level=warning"]) else {
            Issue.record("not affected"); return
        }
        #expect(d.totalAffectedItems == 3)
        guard case .affected(let e) = try await node.run("wazuh.manager", "ossec_log", ["q": "description~a=b;level!=debug"]) else {
            Issue.record("not affected"); return
        }
        #expect(e.totalAffectedItems == 0, "the first operator splits the term: description contains 'a=b'")
        guard case .exception(let f) = try await node.run("wazuh.manager", "ossec_log", ["q": "no operator"]) else {
            Issue.record("no exception"); return
        }
        #expect(f.code == 1407)
    }

    @Test func ossecLogSummaryCountsPerTagAndLevel() async throws {
        let node = try DapiTestNode()
        defer { node.remove() }
        try Self.seedLogs(node)
        guard case .affected(let a) = try await node.run("wazuh.manager", "ossec_log_summary") else { Issue.record("not affected"); return }
        #expect(a.allMsg == "Log was successfully summarized in specified node")
        #expect(a.affectedItems.compactMap { $0.objectValue?.keys.first } ==
                ["wazuh-analysisd", "wazuh-clusterd", "wazuh-modulesd:syscollector", "wazuh-remoted"])
        expectJSON(a.affectedItems[1], ["wazuh-clusterd": ["all": 3, "info": 1, "error": 1, "critical": 0, "warning": 0, "debug": 1]], "clusterd")
    }

    @Test func noLogFileIsError1020() async throws {
        let node = try DapiTestNode()
        defer { node.remove() }
        guard case .exception(let e) = try await node.run("wazuh.manager", "ossec_log") else { Issue.record("no exception"); return }
        #expect(e.code == 1020 && e.kind == .internalError)
    }
}
