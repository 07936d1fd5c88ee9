import Common

/// `GET /openapi.json`: an OpenAPI 3.0 document of what this front serves, built from the same table the
/// router is built from (a test compares the two).
public enum OpenAPIDocument {
    /// The routes besides the endpoint table's.
    public static let extra: [(method: String, path: String, summary: String, auth: Bool)] = [
        ("GET", "/", "API information", false),
        ("GET", "/openapi.json", "This document", false),
        ("POST", "/security/user/authenticate", "Log in: basic authentication gives a JWT", false),
        ("PUT", "/security/user/revoke", "Revoke all tokens", true),
        ("GET", "/metrics", "Prometheus metrics (no token needed on loopback)", true),
        ("GET", "/ui/", "Status page", false),
    ]

    /// Every (METHOD, path) served, OpenAPI style.
    public static var operations: [(String, String)] {
        extra.map { ($0.method, $0.path) } + Endpoints.all.map { ($0.method.rawValue, $0.path) }
    }

    public static func json() -> JSONValue {
        var paths = JSONObject()
        func add(_ method: String, _ path: String, _ op: JSONValue) {
            var entry = paths[path]?.objectValue ?? JSONObject()
            entry[method.lowercased()] = op
            paths[path] = .object(entry)
        }
        for e in extra {
            var op = JSONObject([("summary", .string(e.summary)), ("responses", ["200": ["description": "OK"]])])
            if !e.auth { op["security"] = .array([]) }
            add(e.method, e.path, .object(op))
        }
        for e in Endpoints.all {
            var parameters: [JSONValue] = e.pathParameters.map {
                ["name": .string($0), "in": "path", "required": true, "schema": ["type": "string"]]
            }
            for q in e.parameters + APIEndpoint.common {
                parameters.append(["name": .string(q), "in": "query", "required": false, "schema": ["type": "string"]])
            }
            let op = JSONObject([
                ("summary", .string(e.summary)),
                ("operationId", .string("\(e.module).\(e.qualname)")),
                ("x-request-type", .string(e.requestType)),
                ("parameters", .array(parameters)),
                ("responses", ["200": ["description": "OK"], "400": ["description": "Bad request"], "401": ["description": "Unauthorized"]]),
            ])
            add(e.method.rawValue, e.path, .object(op))
        }
        return .object(JSONObject([
            ("openapi", "3.0.0"),
            ("info", ["title": "Wazuh API REST (cluster-api)", "version": .string(ClusterAPIInfo.apiVersion)]),
            ("components", ["securitySchemes": ["jwt": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"],
                                                "basic": ["type": "http", "scheme": "basic"]]]),
            ("security", [["jwt": []]]),
            ("paths", .object(paths)),
        ]))
    }
}
