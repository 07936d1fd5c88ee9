import Common
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore

/// The request context: Hummingbird's core storage plus the client address (access log, login blocking).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    /// The authenticated user, set by the token check.
    public var user = "-"

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Uploads (rule, decoder and list files) up to 10 MiB, as the Wazuh API's `max_upload_size`.
    public var maxUploadSize: Int { 10 << 20 }
}

/// The REST front: the endpoints of `Endpoints.all` as routes, each turned into one request on the
/// node's local socket, with authentication, the problem JSON for errors, `pretty`, the access log, and
/// 501 for what it does not serve.
public final class APIServer: Sendable {
    public let home: String
    public let configuration: APIConfiguration
    let client: LocalDapiClient
    let auth: APIAuth
    let log: APILog
    let metrics: APIMetrics

    public init(home: String, configuration: APIConfiguration, auth: APIAuth, log: APILog) {
        self.home = home
        self.configuration = configuration
        self.auth = auth
        self.log = log
        client = LocalDapiClient(home: home, asyncTimeout: 200)
        metrics = APIMetrics()
    }

    /// The router with every route; also what the OpenAPI test compares with.
    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: NotServedMiddleware(server: self))
        router.get("/") { _, _ in self.json(Self.rootAnswer(), status: .ok) }
        router.get("/openapi.json") { _, _ in self.json(OpenAPIDocument.json(), status: .ok) }
        router.post("/security/user/authenticate") { request, context in await self.authenticate(request, context) }
        router.put("/security/user/revoke") { request, context in await self.revoke(request, context) }
        router.get("/metrics") { request, context in await self.metricsAnswer(request, context) }
        router.get("/ui/") { _, _ in Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                                                body: .init(byteBuffer: ByteBuffer(string: StatusPage.html))) }
        for endpoint in Endpoints.all {
            let path = RouterPath(endpoint.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: ""))
            router.on(path, method: HTTPRequest.Method(rawValue: endpoint.method.rawValue)!) { request, context in
                await self.serve(endpoint, request, context)
            }
        }
        return router
    }

    static func rootAnswer() -> JSONValue {
        ["data": ["title": "Wazuh API REST", "api_version": .string(ClusterAPIInfo.apiVersion), "revision": 40814,
                  "license_name": "GPL 2.0", "license_url": "https://github.com/wazuh/wazuh/blob/v4.8.1/LICENSE",
                  "hostname": .string(ProcessInfo.processInfo.hostName),
                  "timestamp": .string(ISO8601DateFormatter().string(from: Date()))],
         "error": 0]
    }

    /// Runs the server until it is stopped (SIGTERM, SIGINT: graceful).
    public func run(host: String, port: Int, tls: TLSConfiguration?, onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        for key in configuration.unknownKeys {
            log.warning("\(APIConfiguration.path(home: home)): '\(key)' is not used by cluster-api; ignored")
        }
        var logger = Logger(label: "cluster-api")
        logger.logLevel = .critical
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(router: router(), server: server,
                              configuration: .init(address: .hostname(host, port: port), serverName: "Wazuh"),
                              onServerRunning: { channel in onRunning(channel.localAddress?.port ?? port) },
                              logger: logger)
        log.info("Listening on \(host):\(port) (\(tls == nil ? "HTTP" : "HTTPS"))")
        try await app.runService()
        await client.shutdown()
    }

    // MARK: handling

    func serve(_ endpoint: APIEndpoint, _ request: Request, _ context: APIRequestContext) async -> Response {
        let started = Date()
        var context = context
        switch await auth.verifyDetailed(authorization: request.headers[.authorization]) {
        case .failure(let r):
            log.debug("Refused \(request.method.rawValue) \(request.uri.path) from \(context.remoteAddress): \(r.reason)")
            return finish(r.problem, request, context, started: started)
        case .success(let user): context.user = user
        }
        var query: [String: String] = [:]
        for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
        let unknown = query.keys.filter { !endpoint.parameters.contains($0) && !APIEndpoint.common.contains($0) }.sorted()
        if !unknown.isEmpty {
            return finish(APIProblem.badRequest("Extra query parameter(s) \(unknown.joined(separator: ", ")) not in spec"), request, context, started: started)
        }
        var body: [UInt8] = []
        if endpoint.method == .POST || endpoint.method == .PUT {
            do {
                let buffer = try await request.body.collect(upTo: context.maxUploadSize)
                body = Array(buffer.readableBytesView)
            } catch {
                return finish(APIProblem(status: 413, title: "Request Entity Too Large",
                                         detail: "The request body is larger than \(context.maxUploadSize) bytes"), request, context, started: started)
            }
        }
        var input = EndpointInput(query: query, body: body)
        for name in endpoint.pathParameters { input.path[name] = context.parameters.get(name) }
        let wait: Bool
        let pretty: Bool
        var kwargs: JSONObject
        do {
            wait = try input.bool("wait_for_complete", default: false) ?? false
            pretty = try input.bool("pretty", default: false) ?? false
            kwargs = try endpoint.kwargs(input)
        } catch {
            return finish(error, request, context, started: started, body: body)
        }
        var nodes: [String] = []
        if endpoint.needsNodes {
            do {
                let answer = try await client.query("get_nodes", ["filter_node": nil, "offset": 0, "limit": 500, "sort": nil, "search": nil,
                                                                   "select": nil, "filter_type": "all", "distinct": false])
                nodes = answer["items"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            } catch let e as WazuhException where e.code == 3012 {
                return finish(APIProblem(.internal(3013)), request, context, started: started, body: body)
            } catch {
                return finish(APIProblem(WazuhException.wrapping(error)), request, context, started: started, body: body)
            }
        }
        if let first = endpoint.firstCall {
            let firstBody = LocalDapiClient.body(module: first.module, qualname: first.qualname, kwargs: JSONObject(),
                                                 requestType: first.requestType, waitForComplete: wait, broadcasting: false, nodes: [],
                                                 user: context.user, apiTimeout: configuration.requestTimeout)
            switch try? await client.dapi(firstBody, waitForComplete: wait) {
            case .result(let r)?: kwargs[first.kwarg] = .object(r.result)
            case .exception(let e)?: return finish(APIProblem(e), request, context, started: started, body: body)
            default: return finish(APIProblem(.cluster(3009, "\(first.qualname) gave no result")), request, context, started: started, body: body)
            }
        }
        let dapiBody = LocalDapiClient.body(module: endpoint.module, qualname: endpoint.qualname, kwargs: kwargs,
                                            requestType: endpoint.requestType, waitForComplete: wait,
                                            broadcasting: endpoint.broadcasting(input), nodes: nodes, user: context.user,
                                            apiTimeout: configuration.requestTimeout)
        let answer: [UInt8]
        let callStart = Date()
        do {
            answer = try await client.execute("dapi", dapiBody, waitForComplete: wait)
        } catch {
            metrics.dapi(function: endpoint.qualname, outcome: "error", seconds: Date().timeIntervalSince(callStart))
            return finish(APIProblem(WazuhException.wrapping(error)), request, context, started: started, body: body)
        }
        // Listings: the items go from the answer to the body as text.
        if let fast = HTTPBody.renderedAffectedItems(answer) {
            let label = fast.failed == 0 ? "ok" : (fast.affected == 0 ? "all_failed" : "partial")
            metrics.dapi(function: endpoint.qualname, outcome: label, seconds: Date().timeIntervalSince(callStart))
            accessLog(request, context, started: started, status: 200, body: body)
            return body200(fast.rendered, pretty: pretty)
        }
        let outcome = DapiOutcome.decode(answer)
        metrics.dapi(function: endpoint.qualname, outcome: Self.outcomeLabel(outcome), seconds: Date().timeIntervalSince(callStart))
        return render(outcome, raw: (kwargs["raw"]?.boolValue ?? false), pretty: pretty, request, context, started: started, body: body)
    }

    static func outcomeLabel(_ o: DapiOutcome) -> String {
        switch o {
        case .exception: return "error"
        case .affected(let a): return a.totalFailedItems == 0 ? "ok" : (a.totalAffectedItems == 0 ? "all_failed" : "partial")
        case .result: return "ok"
        }
    }

    func render(_ outcome: DapiOutcome, raw: Bool, pretty: Bool, _ request: Request, _ context: APIRequestContext, started: Date,
                body: [UInt8]) -> Response {
        switch outcome {
        case .exception(let e):
            return finish(APIProblem(e), request, context, started: started, body: body)
        case .affected(let a):
            accessLog(request, context, started: started, status: 200, body: body)
            return body200(a.rendered, pretty: pretty)
        case .result(let r):
            accessLog(request, context, started: started, status: 200, body: body)
            if raw, let text = r.result["message"]?.stringValue {
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            return body200(r.rendered, pretty: pretty)
        }
    }

    func body200(_ value: JSONValue, pretty: Bool) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: HTTPBody.bytes(value, pretty: pretty))))
    }

    func finish(_ error: any Error, _ request: Request, _ context: APIRequestContext, started: Date, body: [UInt8] = []) -> Response {
        let problem = (error as? APIProblem) ?? APIProblem(WazuhException.wrapping(error))
        accessLog(request, context, started: started, status: problem.status, body: body)
        var headers: HTTPFields = [.contentType: "application/problem+json; charset=utf-8"]
        if problem.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: PythonJSONEncoder().encodeBytes(problem.json))))
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status, pretty: Bool = false) -> Response {
        let bytes = pretty ? Array(PrettyJSON.text(value).utf8) : PythonJSONEncoder().encodeBytes(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `<user> <ip> "<METHOD> <path>" with parameters <json> and body <json> done in <s>s: <status>`.
    func accessLog(_ request: Request, _ context: APIRequestContext, started: Date, status: Int, body: [UInt8]) {
        var params = JSONObject()
        for (k, v) in request.uri.queryParameters { params[String(k)] = .string(String(v)) }
        let bodyJSON: String
        if body.isEmpty { bodyJSON = "{}" } else if let v = try? JSONParser.parse(body) { bodyJSON = v.pythonText } else { bodyJSON = "\"<\(body.count) bytes>\"" }
        let seconds = String(format: "%.3f", Date().timeIntervalSince(started))
        log.info("\(context.user) \(context.remoteAddress) \"\(request.method.rawValue) \(request.uri.path)\" with parameters \(JSONValue.object(params).pythonText) and body \(bodyJSON) done in \(seconds)s: \(status)")
        metrics.request(method: request.method.rawValue, status: status)
    }

    // MARK: security

    func authenticate(_ request: Request, _ context: APIRequestContext) async -> Response {
        let started = Date()
        switch await auth.authenticateDetailed(authorization: request.headers[.authorization], remoteAddress: context.remoteAddress) {
        case .failure(let r):
            log.info("Login refused from \(context.remoteAddress): \(r.reason)")
            return finish(r.problem, request, context, started: started)
        case .success(let token):
            var context = context
            context.user = Self.basicUser(request.headers[.authorization]) ?? "-"
            accessLog(request, context, started: started, status: 200, body: [])
            if request.uri.queryParameters["raw"].map({ $0 == "true" }) ?? false {
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: token)))
            }
            return json(["data": ["token": .string(token)], "error": 0], status: .ok)
        }
    }

    static func basicUser(_ header: String?) -> String? {
        guard let header, header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return String(text[..<colon])
    }

    func revoke(_ request: Request, _ context: APIRequestContext) async -> Response {
        let started = Date()
        var context = context
        switch await auth.verify(authorization: request.headers[.authorization]) {
        case .failure(let p): return finish(p, request, context, started: started)
        case .success(let user): context.user = user
        }
        // Here at once, and on the master, whose stamp reaches every clusterd node with the integrity sync.
        do { try auth.revokeAll() } catch {
            return finish(APIProblem(.internal(1000, "cannot revoke tokens: \(error)")), request, context, started: started)
        }
        let body = LocalDapiClient.body(module: "api.cluster_api", qualname: "revoke_tokens", kwargs: JSONObject(), requestType: "local_master",
                                        waitForComplete: false, broadcasting: false, nodes: [], user: context.user,
                                        apiTimeout: configuration.requestTimeout)
        if case .exception(let e)? = try? await client.dapi(body) {
            return finish(APIProblem(e), request, context, started: started)
        }
        accessLog(request, context, started: started, status: 200, body: [])
        return json(["message": "User tokens were successfully revoked", "error": 0], status: .ok)
    }

    // MARK: metrics

    func metricsAnswer(_ request: Request, _ context: APIRequestContext) async -> Response {
        let started = Date()
        let loopback = context.remoteAddress == "127.0.0.1" || context.remoteAddress == "::1"
        if !loopback, case .failure(let p) = await auth.verify(authorization: request.headers[.authorization]) {
            return finish(p, request, context, started: started)
        }
        let text = await metrics.exposition(client: client)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// What the router has no route for is answered 501 with a problem naming it (not 404): an endpoint of
/// the Wazuh API this front does not serve.
struct NotServedMiddleware: RouterMiddleware {
    let server: APIServer
    func handle(_ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound {
            let problem = APIProblem(status: 501, title: "Not Implemented",
                                     detail: "cluster-api does not serve \(request.method.rawValue) \(request.uri.path)")
            return server.finish(problem, request, context, started: Date())
        }
    }
}

/// Python's `json.dumps(indent=3)`, which `pretty=true` answers use.
enum PrettyJSON {
    static func text(_ value: JSONValue) -> String {
        var out = ""
        write(value.materialized, indent: 0, into: &out)
        return out
    }

    static func write(_ v: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: (indent + 1) * 3), close = String(repeating: " ", count: indent * 3)
        switch v {
        case .array(let a) where !a.isEmpty:
            out += "[\n"
            for (i, e) in a.enumerated() {
                out += pad
                write(e, indent: indent + 1, into: &out)
                out += i == a.count - 1 ? "\n" : ",\n"
            }
            out += close + "]"
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            var i = 0
            for (k, e) in o {
                out += pad + JSONValue.string(k).pythonText + ": "
                write(e, indent: indent + 1, into: &out)
                i += 1
                out += i == o.count ? "\n" : ",\n"
            }
            out += close + "}"
        default:
            out += v.pythonText
        }
    }
}
