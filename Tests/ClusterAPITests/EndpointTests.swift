@testable import ClusterAPI
import Common
import Foundation
import Hummingbird
import NIOCore
import NIOEmbedded
import Testing

/// The 4.8.1 captures (Tests/Fixtures/wazuh-4.8.1/dapi/dapi-calls.jsonl).
enum Captures {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/wazuh-4.8.1/dapi/dapi-calls.jsonl")
    static let records: [JSONValue] = {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
    }()
    static func named(_ name: String) -> JSONValue? { records.first { $0["name"]?.stringValue == name } }
}

/// Each endpoint builds the `f_kwargs` 4.8.1's controller built for the same HTTP call.
@Suite struct EndpointKwargsTests {
    /// `GET /agents?select=...` → method, path, query.
    static func split(_ endpoint: String) -> (String, String, [String: String]) {
        let parts = endpoint.split(separator: " ", maxSplits: 2).map(String.init)
        let url = parts[1]
        var query: [String: String] = [:]
        if let q = url.split(separator: "?", maxSplits: 1).dropFirst().first {
            for pair in q.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                query[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
        }
        return (parts[0], String(url.split(separator: "?").first!), query)
    }

    /// The endpoint of the table matching `path` and its path parameters.
    static func match(_ method: String, _ path: String) -> (APIEndpoint, [String: String])? {
        let segments = path.split(separator: "/")
        for e in Endpoints.all where e.method.rawValue == method {
            let template = e.path.split(separator: "/")
            guard template.count == segments.count else { continue }
            var params: [String: String] = [:]
            var ok = true
            for (t, s) in zip(template, segments) {
                if t.hasPrefix("{") { params[String(t.dropFirst().dropLast())] = String(s) } else if t != s { ok = false; break }
            }
            if ok { return (e, params) }
        }
        return nil
    }

    @Test func kwargsAreThoseOfThe481Controllers() throws {
        var compared = 0
        for record in Captures.records {
            guard let endpoint = record["endpoint"]?.stringValue, endpoint.hasPrefix("GET") || endpoint.hasPrefix("PUT") || endpoint.hasPrefix("DELETE") || endpoint.hasPrefix("POST"),
                  let calls = record["dapi_calls"]?.arrayValue, let last = calls.last,
                  let toDict = last["to_dict"]?.stringValue, let sent = try? JSONParser.parse(Array(toDict.utf8)) else { continue }
            let (method, path, query) = Self.split(endpoint.components(separatedBy: " {").first!)
            guard let (e, params) = Self.match(method, path) else { continue }
            // Calls of functions clusterd serves only (the syscollector/restart ones are not in the table).
            guard sent["f"]?["__callable__"]?["__qualname__"]?.stringValue == e.qualname else { continue }
            var body: [UInt8] = []
            if let brace = endpoint.range(of: " {") { body = Array(endpoint[endpoint.index(after: brace.lowerBound)...].utf8) }
            let kwargs = try e.kwargs(EndpointInput(path: params, query: query, body: body))
            let expected = try #require(sent["f_kwargs"])
            // ruleset_sync's master_md5 comes from a first call; everything else is built from the request alone.
            var kw = kwargs
            if let first = e.firstCall { kw[first.kwarg] = expected[first.kwarg] }
            #expect(jsonEqualUnordered(.object(kw), expected), "\(endpoint): \(JSONValue.object(kwargs).pythonText) vs \(expected.pythonText)")
            #expect(e.requestType == sent["request_type"]?.stringValue, "\(endpoint)")
            #expect(e.broadcasting(EndpointInput(path: params, query: query)) == (sent["broadcasting"]?.boolValue ?? false), "\(endpoint)")
            compared += 1
        }
        #expect(compared >= 20)
    }

    @Test func badParametersAreProblems() {
        let agents = Endpoints.all.first { $0.path == "/agents" && $0.method == .GET }!
        #expect(throws: APIProblem.self) { try agents.kwargs(EndpointInput(query: ["limit": "many"])) }
        #expect(throws: APIProblem.self) { try agents.kwargs(EndpointInput(query: ["limit": "0"])) }
        #expect(throws: APIProblem.self) { try agents.kwargs(EndpointInput(query: ["offset": "-1"])) }
        let create = Endpoints.all.first { $0.path == "/groups" && $0.method == .POST }!
        do { _ = try create.kwargs(EndpointInput(body: Array("{not json".utf8))); Issue.record("accepted") } catch {
            #expect(error.detail == "The request body is not valid JSON" && error.status == 400)
        }
    }
}

func jsonEqualUnordered(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a.materialized, b.materialized) {
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in x { guard let w = y[k], jsonEqualUnordered(v, w) else { return false } }
        return true
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { jsonEqualUnordered($0, $1) }
    case (let x, let y):
        return x == y
    }
}

/// The HTTP bodies 4.8.1's API rendered from the results its cluster gave (`dapi_calls[].result_wire`
/// rendered as `result_render`).
@Suite struct RenderingTests {
    @Test func renderedBodiesAreThe481Ones() throws {
        var compared = 0
        for record in Captures.records {
            let name = record["name"]?.stringValue ?? "?"
            for call in record["dapi_calls"]?.arrayValue ?? [] {
                guard let wire = call["result_wire"]?.stringValue, let value = try? JSONParser.parse(Array(wire.utf8)),
                      let rendered = call["result_render"], rendered != .null else { continue }
                // The HTTP body of a call with one DAPI request is that request's rendering (dates as ISO text).
                let http = (record["dapi_calls"]?.arrayValue?.count == 1) ? record["rendered"] : nil
                func body(_ v: JSONValue) -> JSONValue { (try? JSONParser.parse(HTTPBody.bytes(v, pretty: false))) ?? .null }
                // The fast path (items copied as text) renders the same body as the decoded answer.
                if case .affected(let a) = DapiOutcome.decode(value) {
                    let fast = try #require(HTTPBody.renderedAffectedItems(Array(wire.utf8)), "\(name): no fast rendering")
                    #expect(HTTPBody.bytes(fast.rendered, pretty: false) == HTTPBody.bytes(a.rendered, pretty: false), "\(name)")
                }
                switch DapiOutcome.decode(value) {
                case .affected(let a):
                    if let http, http["data"] != nil {
                        #expect(jsonEqualUnordered(body(a.rendered), http), "\(name): \(body(a.rendered).pythonText.prefix(300)) vs \(http.pythonText.prefix(300))")
                    } else { continue }
                case .result(let r):
                    if let http, http != .null, http["title"] == nil {
                        #expect(jsonEqualUnordered(body(r.rendered), http), "\(name): \(body(r.rendered).pythonText.prefix(300)) vs \(http.pythonText.prefix(300))")
                    } else { continue }
                case .exception(let e):
                    // result_render of an exception is {exception, str, code, dapi_errors}: the problem's text and code.
                    let p = APIProblem(e)
                    #expect(p.code == rendered["code"]?.intValue.map(Int.init), "\(name)")
                    #expect("Error \(e.code) - \(p.detail)" == rendered["str"]?.stringValue, "\(name): \(p.detail)")
                    #expect(jsonEqualUnordered(.object(p.dapiErrors ?? JSONObject()), rendered["dapi_errors"] ?? .object(JSONObject())), "\(name)")
                }
                compared += 1
            }
        }
        #expect(compared >= 25)
    }

    /// HTTP statuses of the captured errors (`http_status` of the call).
    @Test func problemStatusesAreThe481Ones() throws {
        var compared = 0
        for record in Captures.records {
            guard let raw = record["raw_response"]?.stringValue, let value = try? JSONParser.parse(Array(raw.utf8)),
                  value["__wazuh_exception__"] != nil, let status = record["http_status"] else { continue }
            let code = Int(status.stringValue ?? "") ?? Int(status.intValue ?? 0)
            guard code > 0 else { continue }  // a raw local-socket call, no HTTP
            let e = WazuhException.decode(value)
            #expect(APIProblem(e).status == code, "\(record["name"]?.stringValue ?? "?"): \(APIProblem(e).status) vs \(code)")
            if let body = record["rendered"], body["title"] != nil {
                #expect(APIProblem(e).title == body["title"]?.stringValue && APIProblem(e).code == body["error"]?.intValue.map(Int.init))
            }
            compared += 1
        }
        #expect(compared >= 4)
    }
}

/// The OpenAPI document lists what the router serves: every documented operation reaches a route (not
/// the 501 catch-all), and an undocumented one gets 501.
@Suite struct OpenAPITests {
    static func respond(_ responder: some HTTPResponder<APIRequestContext>, _ method: String, _ path: String) async throws -> Response {
        let channel = EmbeddedChannel()
        let context = APIRequestContext(source: .init(channel: channel, logger: .init(label: "test")))
        let request = Request(head: .init(method: .init(rawValue: method)!, scheme: "http", authority: "localhost", path: path),
                              body: .init(buffer: ByteBuffer()))
        return try await responder.respond(to: request, context: context)
    }

    @Test func everyDocumentedOperationIsRouted() async throws {
        let home = NSTemporaryDirectory() + "openapi-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/etc", withIntermediateDirectories: true)
        let auth = try APIAuth(home: home, clusterKey: "WazuhPeerTestKey0123456789abcdef", settings: .init(), now: { 1_800_000_000 })
        let server = APIServer(home: home, configuration: APIConfiguration(), auth: auth, log: try APILog(home: nil, level: "disabled"))
        let responder = server.router().buildResponder()
        let doc = OpenAPIDocument.json()
        var operations = 0
        for (path, entry) in doc["paths"]?.objectValue ?? JSONObject() {
            for (method, _) in entry.objectValue ?? JSONObject() {
                let concrete = path.replacingOccurrences(of: "{node_id}", with: "worker1").replacingOccurrences(of: "{agent_id}", with: "001")
                    .replacingOccurrences(of: "{group_id}", with: "default").replacingOccurrences(of: "{filename}", with: "local_rules.xml")
                let response = try await Self.respond(responder, method.uppercased(), concrete)
                #expect(response.status.code != 501 && response.status.code != 404, "\(method) \(path) is documented but not routed")
                operations += 1
            }
        }
        #expect(operations == OpenAPIDocument.operations.count && operations > 40)
        #expect(try await Self.respond(responder, "GET", "/mitre/groups").status.code == 501)
        let other = try await Self.respond(responder, "DELETE", "/cluster/nodes").status.code
        #expect(other == 501, "DELETE /cluster/nodes: \(other)")
    }
}

@Suite struct APIConfigurationTests {
    @Test func knownSettingsAndUnknownKeys() throws {
        let c = try APIConfiguration.parse("""
            host: 127.0.0.1
            port: 55001
            https:
              enabled: no
              key: my.key
            logs:
              level: debug
            auth_token_exp_timeout: 60
            access:
              max_login_attempts: 3
              block_time: 10
            cors:
              enabled: yes
            """, file: "api.yaml")
        #expect(c.host == "127.0.0.1" && c.port == 55001 && !c.httpsEnabled && c.httpsKey == "my.key" && c.httpsCert == "server.crt")
        #expect(c.logLevel == "debug" && c.tokenLifetime == 60 && c.maxLoginAttempts == 3 && c.blockTime == 10)
        #expect(c.unknownKeys == ["cors"])
        #expect(c.sslPath("my.key", home: "/h") == "/h/api/configuration/ssl/my.key" && c.sslPath("/abs.key", home: "/h") == "/abs.key")
    }

    @Test func badFilesNameTheKey() {
        #expect(throws: APIConfigurationError(file: "api.yaml", key: "port", problem: "must be an integer")) {
            try APIConfiguration.parse("port: many", file: "api.yaml")
        }
        #expect(throws: APIConfigurationError.self) { try APIConfiguration.parse("logs:\n  level: loud", file: "api.yaml") }
        #expect(throws: APIConfigurationError.self) { try APIConfiguration.parse("port: [1", file: "api.yaml") }
        #expect((try? APIConfiguration.parse("", file: "api.yaml")) == APIConfiguration())
    }

    @Test func prettyIsIndentThree() {
        #expect(PrettyJSON.text(["a": [1, 2], "b": ["c": .null], "e": .array([])]) == "{\n   \"a\": [\n      1,\n      2\n   ],\n   \"b\": {\n      \"c\": null\n   },\n   \"e\": []\n}")
    }
}

@Suite struct HTTPBodyTests {
    @Test func datesAreWrittenAsText() throws {
        let v: JSONValue = ["a": ["__wazuh_datetime__": "2026-12-01T22:14:15+00:00"], "s": #"{"__wazuh_datetime__": "x"}"#,
                            "l": [["__wazuh_datetime__": "9999-12-31T23:59:59+00:00"]]]
        let text = String(decoding: HTTPBody.bytes(v, pretty: false), as: UTF8.self)
        // A string that only looks like the marker is left alone (its quotes are escaped).
        #expect(text == #"{"a": "2026-12-01T22:14:15+00:00", "s": "{\"__wazuh_datetime__\": \"x\"}", "l": ["9999-12-31T23:59:59+00:00"]}"#)
        #expect(String(decoding: HTTPBody.bytes(v, pretty: true), as: UTF8.self).contains(#""a": "2026-12-01T22:14:15+00:00""#))
    }
}

@Suite struct FastListingTests {
    /// A large answer (found from its end): the same body as the decoded answer, even with items whose
    /// strings hold the marker text.
    @Test func largeAnswersRenderAsDecoded() throws {
        var a = AffectedItems(allMsg: "all", someMsg: "some", noneMsg: "none")
        a.affectedItems = (0..<800).map { i in
            ["id": .string(String(format: "%03d", i)), "name": .string(#"x], "sort_fields": ["# + String(repeating: "y", count: 80)),
             "lastKeepAlive": ["__wazuh_datetime__": "2026-12-01T22:14:36+00:00"]]
        }
        a.totalAffectedItems = 800
        a.addFailed(id: "999", error: .notFound(1701))
        let wire = DapiOutcome.affected(a).bytes
        #expect(wire.count > 64 << 10)
        let fast = try #require(HTTPBody.renderedAffectedItems(wire))
        #expect(HTTPBody.bytes(fast.rendered, pretty: false) == HTTPBody.bytes(a.rendered, pretty: false))
        #expect(fast.failed == 1 && fast.affected == 800)
        // Not an affected-items answer: nil, the caller decodes it.
        #expect(HTTPBody.renderedAffectedItems(DapiOutcome.result(WazuhResultValue(JSONObject([("x", 1)]))).bytes) == nil)
    }
}
