import Foundation

/// The Wazuh exception JSON carried by `err` payloads (PROTOCOL.md §1.6), and plain-text `err` payloads.
public struct WazuhException: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case clusterError = "WazuhClusterError"
        case internalError = "WazuhInternalError"
        case error = "WazuhError"
        case permissionError = "WazuhPermissionError"
        case resourceNotFound = "WazuhResourceNotFound"

        var title: String {
            switch self {
            case .clusterError: return "Wazuh Cluster Error"
            case .internalError: return "Wazuh Internal Error"
            case .error: return "Bad Request"
            case .permissionError: return "Permission Denied"
            case .resourceNotFound: return "Resource Not Found"
            }
        }
    }

    public var kind: Kind
    public var code: Int
    public var extraMessage: String?
    /// An `extra_message` dict, formatted into the catalogue text (`str.format`) instead of appended.
    public var formatArgs: JSONObject?
    public var extraRemediation: String?
    /// `{"<node>": {"error": "<message>"[, "logfile": ...]}}`: where a distributed request failed.
    public var dapiErrors: JSONObject
    /// The ids a `WazuhError` failed for (merged into failed items by `AffectedItemsWazuhResult | e`).
    public var ids: [String]
    /// The Python class name (one of `Kind`'s, or another for a decoded foreign exception).
    public var className: String

    public init(_ kind: Kind, code: Int, extraMessage: String? = nil, ids: [String] = [], dapiErrors: JSONObject = JSONObject()) {
        self.kind = kind
        self.code = code
        self.extraMessage = extraMessage
        self.formatArgs = nil
        self.extraRemediation = nil
        self.dapiErrors = dapiErrors
        self.ids = ids
        self.className = kind.rawValue
    }

    public static func cluster(_ code: Int, _ extra: String? = nil) -> WazuhException {
        WazuhException(.clusterError, code: code, extraMessage: extra)
    }

    public static func `internal`(_ code: Int, _ extra: String? = nil) -> WazuhException {
        WazuhException(.internalError, code: code, extraMessage: extra)
    }

    /// A `WazuhError` (HTTP 400).
    public static func error(_ code: Int, _ extra: String? = nil, ids: [String] = []) -> WazuhException {
        WazuhException(.error, code: code, extraMessage: extra, ids: ids)
    }

    /// A `WazuhResourceNotFound` (HTTP 404).
    public static func notFound(_ code: Int, _ extra: String? = nil) -> WazuhException {
        WazuhException(.resourceNotFound, code: code, extraMessage: extra)
    }

    /// `WazuhError` and its subclasses carry `ids`.
    var carriesIDs: Bool { kind == .error || kind == .resourceNotFound || kind == .permissionError }

    /// The message `str(e)` and the API show: the catalogue text with `extra_message` appended after `: `,
    /// or formatted into it when it is a dict.
    public var message: String {
        let base = WazuhErrorCatalogue.message(for: code)
        if let formatArgs {
            var text = base
            for (k, v) in formatArgs { text = text.replacingOccurrences(of: "{\(k)}", with: v.stringValue ?? v.pythonText) }
            return text
        }
        if let extraMessage { return base + ": " + extraMessage }
        return base
    }

    public var remediation: String? { extraRemediation ?? WazuhErrorCatalogue.remediation(for: code) }

    /// The text a Wazuh node derives: `Error <code> - <message>[: <extra_message>]`.
    public var description: String { "Error \(code) - \(message)" }

    /// Whether two errors are the same key of a failed-items dict (equal `to_dict()` apart from ids).
    public func sameError(as other: WazuhException) -> Bool {
        code == other.code && className == other.className && extraMessage == other.extraMessage && formatArgs == other.formatArgs
    }

    /// `to_dict()`: the `__object__` of the encoded exception.
    public var objectJSON: JSONValue {
        var object: JSONObject = JSONObject([
            ("type", "about:blank"),
            ("title", .string(kind.title)),
            ("code", .int(Int64(code))),
            ("extra_message", formatArgs.map { .object($0) } ?? extraMessage.map { .string($0) } ?? .null),
            ("extra_remediation", extraRemediation.map { .string($0) } ?? .null),
            ("cmd_error", false),
            ("dapi_errors", .object(dapiErrors)),
        ])
        if carriesIDs { object["ids"] = .array(ids.map { .string($0) }) }
        return .object(object)
    }

    /// The JSON object as Python's WazuhJSONEncoder writes it.
    public var json: JSONValue {
        ["__wazuh_exception__": .object(JSONObject([("__class__", .string(className)), ("__object__", objectJSON)]))]
    }

    /// The `err` payload bytes.
    public var payload: [UInt8] { Array(json.pythonText.utf8) }

    /// Reads an `err` payload: the exception JSON, an `__unhandled_exc__` object, or plain text (3000).
    public static func parse(payload: [UInt8]) -> WazuhException {
        let text = String(decoding: payload, as: UTF8.self)
        guard let json = try? JSONParser.parse(payload) else {
            return .cluster(3000, text)
        }
        if json["__wazuh_exception__"] == nil && json["__unhandled_exc__"] == nil { return .cluster(3000, text) }
        return decode(json)
    }

    /// Decodes an encoded exception object (`__wazuh_exception__` or `__unhandled_exc__`).
    public static func decode(_ json: JSONValue) -> WazuhException {
        if let exc = json["__wazuh_exception__"], let obj = exc["__object__"] {
            let cls = exc["__class__"]?.stringValue ?? "WazuhException"
            var e = WazuhException(Kind(rawValue: cls) ?? .error, code: Int(obj["code"]?.intValue ?? 1000))
            switch obj["extra_message"] {
            case .string(let s)?: e.extraMessage = s
            case .object(let o)?: e.formatArgs = o
            default: break
            }
            e.extraRemediation = obj["extra_remediation"]?.stringValue
            e.dapiErrors = obj["dapi_errors"]?.objectValue ?? JSONObject()
            e.ids = obj["ids"]?.arrayValue?.map { $0.stringValue ?? $0.pythonText } ?? []
            e.className = cls
            return e
        }
        if let unhandled = json["__unhandled_exc__"] {
            let cls = unhandled["__class__"]?.stringValue ?? "Exception"
            let args = unhandled["__args__"]?.arrayValue?.map { $0.stringValue ?? $0.pythonText }.joined(separator: ", ") ?? ""
            return .internal(1000, "\(cls): \(args)")
        }
        return .cluster(3000, json.pythonText)
    }

    /// Messages of the Wazuh error table (kept for callers of the old name).
    public static func message(for code: Int) -> String { WazuhErrorCatalogue.message(for: code) }
}

extension WazuhErrorCatalogue {
    /// The cluster's codes (framework/wazuh/core/exception.py, 3000s and the few others the cluster uses).
    static func clusterMessage(_ code: Int) -> String? {
        switch code {
        case 1000: return "Wazuh Internal Error"
        case 1014: return "Error communicating with socket"
        case 1724: return "Not a valid select field"
        case 1728: return "Invalid node type"
        case 1730: return "Node does not exist"
        case 3000: return "Cluster"
        case 3001: return "Error creating zip file"
        case 3004: return "Error in cluster configuration"
        case 3006: return "Error reading cluster configuration"
        case 3007: return "Client.keys file received in master node"
        case 3009: return "Error executing distributed API request"
        case 3012: return "Cluster is not running"
        case 3013: return "Cluster is not running, it might be disabled in `WAZUH_HOME/etc/ossec.conf`"
        case 3015: return "Error walking directory"
        case 3016: return "Received an error response"
        case 3018: return "Error sending request"
        case 3020: return "Timeout sending request"
        case 3021: return "Timeout executing API request"
        case 3022: return "Unknown node ID"
        case 3023: return "Worker node is not connected to master"
        case 3024: return "Length of command exceeds limit defined in wazuh.cluster.common.Handler.cmd_len"
        case 3025: return "Could not decrypt message"
        case 3026: return "Error sending request: Memory error. Request chunk size divided by 2"
        case 3027: return "Unknown received task name"
        case 3028: return "Worker node ID already exists"
        case 3029: return "Connected worker with same name as the master"
        case 3030: return "Worker does not belong to the same cluster"
        case 3031: return "Worker and master versions are not the same"
        case 3032: return "Could not forward DAPI request. Connection not found"
        case 3034: return "Error sending file. File not found"
        case 3035: return "String couldn't be found"
        case 3036: return "JSON couldn't be loaded"
        case 3037: return "Error while processing Agent-info chunks"
        case 3039: return "Timeout while waiting to receive a file"
        case 3040: return "Error while waiting to receive a file"
        case 3050: return "Payload too large. Possible DoS attempt"
        case 3051: return "Too many concurrent divided messages"
        case 3053: return "Decompressed package exceeds the maximum allowed size"
        case 3060: return "Invalid node name format"
        default: return nil
        }
    }
}
