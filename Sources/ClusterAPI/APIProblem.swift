import Common

/// An error answer of the API: Wazuh's problem JSON (LOCAL-DAPI-CONTROL.md §2.8, `_create_problem` plus
/// the post-processing middleware): `{"title", "detail", "remediation"?, "dapi_errors"?, "error"?}` with
/// the HTTP status of its class.
public struct APIProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var title: String
    public var detail: String
    public var remediation: String?
    public var dapiErrors: JSONObject?
    /// The Wazuh error code (`error`), nil for plain HTTP problems (401 without a Wazuh code).
    public var code: Int?

    public init(status: Int, title: String, detail: String, remediation: String? = nil, dapiErrors: JSONObject? = nil, code: Int? = nil) {
        (self.status, self.title, self.detail, self.remediation, self.dapiErrors, self.code) = (status, title, detail, remediation, dapiErrors, code)
    }

    /// The answer for a Wazuh exception: its title, message and remediation, `dapi_errors` when it names
    /// nodes, and the status of its class (internal 500, permission 403, not found 404, other errors 400).
    public init(_ e: WazuhException) {
        let status: Int
        switch e.kind {
        case .internalError, .clusterError: status = 500
        case .permissionError: status = 403
        case .resourceNotFound: status = 404
        case .error: status = e.code == 6001 ? 429 : 400
        }
        self.init(status: status, title: Self.title(e), detail: e.message, remediation: e.remediation,
                  dapiErrors: e.dapiErrors.isEmpty ? nil : e.dapiErrors, code: e.code)
    }

    static func title(_ e: WazuhException) -> String {
        switch e.kind {
        case .internalError: return "Wazuh Internal Error"
        case .clusterError: return "Wazuh Cluster Error"
        case .error: return "Bad Request"
        case .permissionError: return "Permission Denied"
        case .resourceNotFound: return "Resource Not Found"
        }
    }

    public static func badRequest(_ detail: String, code: Int? = nil) -> APIProblem {
        APIProblem(status: 400, title: "Bad Request", detail: detail, code: code)
    }

    public static func unauthorized(_ detail: String) -> APIProblem {
        APIProblem(status: 401, title: "Unauthorized", detail: detail)
    }

    public var json: JSONValue {
        var o = JSONObject([("title", .string(title)), ("detail", .string(detail))])
        if let remediation { o["remediation"] = .string(remediation) }
        if let dapiErrors { o["dapi_errors"] = .object(dapiErrors) }
        if let code { o["error"] = .int(Int64(code)) }
        return .object(o)
    }

    public var description: String { "\(status) \(title): \(detail)" }
}
