import Common
import Foundation
import Testing

/// `cluster-api` on every node of a real cluster (master + two workers, agents on both workers), over
/// HTTPS with the self-signed certificate it makes, called with curl as an operator would.
@Suite(.serialized) struct ClusterAPILiveTests {
    /// A running `cluster-api` on a node: its process and the port it serves on.
    final class API: @unchecked Sendable {
        let process: Process
        let port: Int
        let home: String

        init(home: String, apiYAML: String? = nil) throws {
            self.home = home
            if let apiYAML {
                try FileManager.default.createDirectory(atPath: home + "/api/configuration", withIntermediateDirectories: true)
                try apiYAML.write(toFile: home + "/api/configuration/api.yaml", atomically: true, encoding: .utf8)
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Harness.binDir + "/cluster-api")
            p.arguments = ["--home", home, "--host", "127.0.0.1", "--port", "0"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            process = p
            var found: Int?
            _ = waitUntil(30) {
                let log = (try? String(contentsOfFile: home + "/logs/api.log", encoding: .utf8)) ?? ""
                guard let line = log.split(separator: "\n").last(where: { $0.contains("Serving on 127.0.0.1:") }) else { return false }
                found = Int(line.split(separator: ":").last ?? "")
                return found != nil
            }
            port = found ?? 0
        }

        func stop() {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }

        var log: String { (try? String(contentsOfFile: home + "/logs/api.log", encoding: .utf8)) ?? "" }

        /// curl -k: the status and the body.
        func call(_ method: String, _ path: String, token: String? = nil, user: String? = nil, body: String? = nil,
                  contentType: String = "application/json", from source: String? = nil) throws -> (status: Int, body: String) {
            var args = ["-sk", "-X", method, "-o", "-", "-w", "\n%{http_code}", "https://127.0.0.1:\(port)\(path)"]
            if let source { args += ["--interface", source] }
            if let token { args += ["-H", "Authorization: Bearer \(token)"] }
            if let user { args += ["-u", user] }
            if let body { args += ["-H", "Content-Type: \(contentType)", "--data-binary", body] }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
        }

        func json(_ method: String, _ path: String, token: String?, body: String? = nil) throws -> (Int, JSONValue) {
            let (s, b) = try call(method, path, token: token, body: body)
            return (s, (try? JSONParser.parse(Array(b.utf8))) ?? .string(b))
        }

        func login(_ user: String = "operator:Op3rator-pass") throws -> String {
            let (s, b) = try call("POST", "/security/user/authenticate", user: user)
            #expect(s == 200, "login on \(home): \(s) \(b)")
            return (try? JSONParser.parse(Array(b.utf8)))?["data"]?["token"]?.stringValue ?? ""
        }
    }

    /// Calls that must answer the same on a worker and on the master (timestamps and node-local values
    /// aside), with the status and the 4.8.1 shape.
    @Test func everyEndpointAnswersAlikeOnWorkersAndMaster() throws {
        let c = try DapiClusterTests.Cluster("api")
        defer { c.stop() }
        // Users are managed on the master; the file reaches the workers with the integrity sync.
        let add = try runTool("cluster-api", ["user", "add", "--home", c.master.home, "operator", "--password", "Op3rator-pass"])
        #expect(add.status == 0, "\(add.err)")
        let usersFile = { (home: String) in try? String(contentsOfFile: home + "/etc/cluster-api/users.json", encoding: .utf8) }
        #expect(waitUntil(15) { usersFile(c.w1.home) != nil && usersFile(c.w1.home) == usersFile(c.master.home) && usersFile(c.w2.home) == usersFile(c.master.home) },
                "the users file reached the workers")
        let mode = try FileManager.default.attributesOfItem(atPath: c.w2.home + "/etc/cluster-api/users.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let apis = try [c.master, c.w1, c.w2].map { try API(home: $0.home) }
        defer { apis.forEach { $0.stop() } }
        let (m, w1, w2) = (apis[0], apis[1], apis[2])
        #expect(m.port > 0 && w1.port > 0 && w2.port > 0)
        // The certificate was made on first start.
        #expect(FileManager.default.fileExists(atPath: c.master.home + "/api/configuration/ssl/server.crt"))
        let token = try w1.login()
        #expect(token.split(separator: ".").count == 3)
        // A token issued on a worker is accepted on the master and on the other worker.
        for api in [m, w2] { #expect(try api.call("GET", "/agents/summary/status", token: token).status == 200) }

        let same = ["/cluster/nodes", "/cluster/healthcheck?nodes_list=worker1", "/cluster/status", "/agents?limit=3&sort=-name&select=id,name,status",
                    "/agents?q=status=active;node_name=worker2", "/agents/summary/status", "/agents/002/key", "/groups", "/groups/default/agents?limit=2",
                    "/cluster/worker2/info", "/cluster/worker1/status", "/cluster/nope/info", "/rules/files", "/decoders/files", "/lists/files",
                    "/cluster/ruleset/synchronization", "/agents?agents_list=999"]
        for path in same {
            let (sm, bm) = try m.json("GET", path, token: token)
            let (sw, bw) = try w1.json("GET", path, token: token)
            #expect(sm == 200 && sw == 200, "\(path): \(sm) \(sw) \(bw.pythonText.prefix(300))")
            #expect(bm["error"] == bw["error"] && bm["data"]?["total_affected_items"] == bw["data"]?["total_affected_items"],
                    "\(path): master \(bm.pythonText.prefix(300)) worker \(bw.pythonText.prefix(300))")
        }
        // Every other endpoint of the table, on a worker and on the master: same status and error level.
        // Writes use a name per node; reads of what they wrote come after them.
        for (label, api) in [("w", w2), ("m", m)] {
            let calls: [(String, String, String?)] = [
                ("GET", "/cluster/local/config", nil), ("GET", "/cluster/worker1/logs?limit=2", nil), ("GET", "/cluster/worker1/logs/summary", nil),
                ("GET", "/manager/info", nil), ("GET", "/manager/status", nil), ("GET", "/manager/logs?limit=3&sort=-timestamp", nil),
                ("GET", "/manager/logs/summary", nil), ("GET", "/decoders/files?limit=5", nil), ("GET", "/lists/files", nil),
                ("POST", "/groups", "{\"group_id\": \"g-\(label)\"}"), ("PUT", "/agents/group?group_id=g-\(label)&agents_list=001,002", nil),
                ("DELETE", "/agents/group?group_id=g-\(label)&agents_list=002", nil), ("DELETE", "/agents/001/group?groups_list=g-\(label)", nil),
                ("DELETE", "/groups?groups_list=g-\(label)", nil),
                ("POST", "/agents", "{\"name\": \"api-\(label)\", \"ip\": \"any\"}"),
                ("PUT", "/lists/files/list-\(label)?overwrite=true", "10.0.0.1:bad\n"), ("GET", "/lists/files/list-\(label)?raw=true", nil),
                ("DELETE", "/lists/files/list-\(label)", nil),
                ("PUT", "/decoders/files/d_\(label).xml", "<decoder name=\"d-\(label)\">\n  <prematch>d\(label)</prematch>\n</decoder>\n"),
                ("GET", "/decoders/files/d_\(label).xml?raw=true", nil), ("DELETE", "/decoders/files/d_\(label).xml", nil),
            ]
            for (method, path, body) in calls {
                let (status, answer) = try api.call(method, path, token: token, body: body,
                                                    contentType: body?.hasPrefix("{") == true ? "application/json" : "application/octet-stream")
                #expect(status == 200, "\(label) \(method) \(path): \(status) \(answer.prefix(400))")
                if let json = try? JSONParser.parse(Array(answer.utf8)), let error = json["error"]?.intValue {
                    #expect(error == 0, "\(label) \(method) \(path): \(answer.prefix(400))")
                }
            }
        }
        // The agents added through each node: deleted through the other.
        let store = try AgentStore.open(home: c.master.home, nodeName: "master-node")
        let added = try store.agents().filter { $0.name.hasPrefix("api-") }.map(\.paddedID)
        #expect(added.count == 2, "\(added)")
        let (sd, deleted) = try w1.json("DELETE", "/agents?agents_list=\(added.joined(separator: ","))&status=all&older_than=0s", token: token)
        #expect(sd == 200 && deleted["data"]?["total_affected_items"] == 2, "\(deleted.pythonText)")

        // The 4.8.1 shapes.
        let (_, agents) = try w1.json("GET", "/agents?limit=3&sort=-name&select=id,name,status", token: token)
        #expect(agents["message"] == "All selected agents information was returned" && agents["data"]?["total_affected_items"] == 5)
        #expect(agents["data"]?["affected_items"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["master-node", "agent-4", "agent-3"],
                "\(agents.pythonText)")
        let (_, missing) = try w1.json("GET", "/agents?agents_list=999", token: token)
        #expect(missing["error"] == 1 && missing["data"]?["failed_items"]?.arrayValue?.first?["error"]?["code"] == 1701)
        let (_, nope) = try w2.json("GET", "/cluster/nope/info", token: token)
        #expect(nope["error"] == 1 && nope["data"]?["failed_items"]?.arrayValue?.first?["error"]?["code"] == 1730 && nope["message"] == "No information was returned")
        let (_, info) = try w1.json("GET", "/cluster/worker2/info", token: token)
        #expect(info["data"]?["affected_items"]?.arrayValue?.first?["path"]?.stringValue == c.w2.home)
        let (_, local) = try w2.json("GET", "/cluster/local/info", token: token)
        #expect(local["data"]?["affected_items"]?.arrayValue?.first?["node"] == "worker2")

        // Writes through a worker reach every node's store.
        let (sg, created) = try w2.json("POST", "/groups", token: token, body: #"{"group_id": "api-group"}"#)
        #expect(sg == 200 && created["message"] == "Group 'api-group' created.", "\(created.pythonText)")
        let (sa, assigned) = try w1.json("PUT", "/agents/003/group/api-group", token: token)
        #expect(sa == 200 && assigned["error"] == 0, "\(assigned.pythonText)")
        for (node, name) in [(c.master, "master-node"), (c.w1, "worker1"), (c.w2, "worker2")] {
            let store = try AgentStore.open(home: node.home, nodeName: name)
            #expect(waitUntil(10) { (try? store.agent(id: 3))?.groups.contains("api-group") == true }, "api-group reached \(name)")
        }
        let rule = "<group name=\"api,\">\n  <rule id=\"100500\" level=\"3\">\n    <match>api test</match>\n    <description>api</description>\n  </rule>\n</group>\n"
        let (su, _) = try w1.json("PUT", "/rules/files/api_rules.xml", token: token, body: rule)
        #expect(su == 200)
        #expect(waitUntil(10) { (try? String(contentsOfFile: c.w2.home + "/etc/rules/api_rules.xml", encoding: .utf8)) == rule },
                "the uploaded rule reached worker2")
        let raw = try m.call("GET", "/rules/files/api_rules.xml?raw=true", token: token)
        #expect(raw.status == 200 && raw.body == rule)

        // Errors: problem bodies, nothing changed.
        let before = try String(contentsOfFile: c.master.home + "/etc/client.keys", encoding: .utf8)
        let badBody = try w1.call("POST", "/groups", token: token, body: "{not json")
        #expect(badBody.status == 400 && badBody.body.contains("\"title\": \"Bad Request\""), "\(badBody)")
        let extra = try w1.call("GET", "/agents?limit=2&bogus=1", token: token)
        #expect(extra.status == 400 && extra.body.contains("bogus"), "\(extra)")
        let badQ = try w1.call("GET", "/agents?q=(status=active", token: token)
        #expect(badQ.status == 400 && badQ.body.contains("\"error\": 1407"), "\(badQ)")
        let unserved = try w1.call("GET", "/mitre/groups", token: token)
        #expect(unserved.status == 501 && unserved.body.contains("does not serve GET /mitre/groups"))
        #expect(try String(contentsOfFile: c.master.home + "/etc/client.keys", encoding: .utf8) == before)

        // Authentication: wrong password, no token, a garbled token, a revoked token.
        let wrong = try w1.call("POST", "/security/user/authenticate", user: "operator:wrong")
        #expect(wrong.status == 401 && wrong.body == #"{"title": "Unauthorized", "detail": "Invalid credentials"}"#, "\(wrong)")
        let none = try w1.call("GET", "/agents")
        #expect(none.status == 401 && none.body.contains("No authorization token provided"), "\(none)")
        let garbled = try w1.call("GET", "/agents", token: token + "x")
        #expect(garbled.status == 401 && garbled.body.contains("Invalid token"), "\(garbled)")
        // A revocation on a worker is immediate there, and reaches the other nodes through the master.
        #expect(try w1.call("PUT", "/security/user/revoke", token: token).status == 200)
        #expect(try w1.call("GET", "/agents", token: token).status == 401)
        #expect(waitUntil(15) { (try? w2.call("GET", "/agents", token: token).status) == 401 }, "the revocation reached worker2")
        #expect(try m.call("GET", "/agents", token: token).status == 401)

        // The access log, the metrics and the status page.
        #expect(w1.log.contains("operator 127.0.0.1 \"GET /agents\" with parameters {\"limit\": \"3\""), "\(w1.log.suffix(800))")
        let metrics = try m.call("GET", "/metrics")
        #expect(metrics.status == 200 && metrics.body.contains("wazuh_api_dapi_requests_total{function=\"get_agents\",outcome=\"ok\"}"))
        #expect(metrics.body.contains("wazuh_cluster_node_connected{node=\"worker2\",type=\"worker\"} 1"), "\(metrics.body.suffix(1500))")
        #expect(metrics.body.contains("wazuh_cluster_node_agents{node=\"worker2\",status=\"active\"} 2"), "\(metrics.body.suffix(1500))")
        let ui = try m.call("GET", "/ui/")
        #expect(ui.status == 200 && ui.body.contains("<title>Wazuh cluster status</title>"))
        // The page rendered by a real browser (headless Chromium) shows every node.
        let fresh = try m.login()
        let dom = try Self.chromium(["--dump-dom", "https://127.0.0.1:\(m.port)/ui/#token=\(fresh)"])
        for node in ["master-node", "worker1", "worker2"] { #expect(dom.contains("<td>\(node)</td>"), "\(node) not on the page: \(dom.suffix(1500))") }
        #expect(dom.contains("<td>active</td>"))
        let openapi = try m.json("GET", "/openapi.json", token: nil)
        #expect(openapi.0 == 200 && openapi.1["paths"]?["/agents"] != nil)
    }

    /// Headless Chromium (scripts/install-deps installs it) with the self-signed certificate accepted.
    static func chromium(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--virtual-time-budget=10000",
                       "--user-data-dir=" + NSTemporaryDirectory() + "chromium-\(UUID().uuidString.prefix(8))"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// More than `max_login_attempts` failed logins from one address block it for `block_time`.
    @Test func repeatedFailedLoginsBlockTheAddress() throws {
        let c = try DapiClusterTests.Cluster("api-block")
        defer { c.stop() }
        #expect(try runTool("cluster-api", ["user", "add", "--home", c.master.home, "operator", "--password", "Op3rator-pass"]).status == 0)
        #expect(waitUntil(15) { FileManager.default.fileExists(atPath: c.w1.home + "/etc/cluster-api/users.json") })
        let api = try API(home: c.w1.home, apiYAML: "auth_token_exp_timeout: 1\naccess:\n  max_login_attempts: 3\n  block_time: 300\n")
        defer { api.stop() }
        // Three allowed failures, the fourth is one too many (still 401) and blocks the address.
        for _ in 0..<4 { #expect(try api.call("POST", "/security/user/authenticate", user: "operator:wrong").status == 401) }
        let blocked = try api.call("POST", "/security/user/authenticate", user: "operator:wrong")
        #expect(blocked.status == 403 && blocked.body.contains("\"error\": 6000"), "\(blocked)")
        // The right password does not unblock the address either; another address still logs in.
        #expect(try api.call("POST", "/security/user/authenticate", user: "operator:Op3rator-pass").status == 403)
        let other = try api.call("POST", "/security/user/authenticate", user: "operator:Op3rator-pass", from: "127.0.0.2")
        #expect(other.status == 200)
        // Tokens last auth_token_exp_timeout (1 s here): the token is refused once it has expired.
        let short = (try? JSONParser.parse(Array(other.body.utf8)))?["data"]?["token"]?.stringValue ?? ""
        var expired: (status: Int, body: String) = (0, "")
        #expect(waitUntil(15) { expired = (try? api.call("GET", "/agents/summary/status", token: short, from: "127.0.0.2")) ?? (0, ""); return expired.status == 401 })
        #expect(expired.body == #"{"title": "Unauthorized", "detail": "Invalid token"}"#, "\(expired)")
    }
}
