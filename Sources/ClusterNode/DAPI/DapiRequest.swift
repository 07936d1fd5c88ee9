import Common

/// A distributed-API request (LOCAL-DAPI-CONTROL.md §2.1): the JSON body of `dapi` / `dapi_fwd`, with
/// 4.8.1's constructor defaults for the keys a sender leaves out (`control.get_agents` sends only `f`,
/// `f_kwargs`, `from_cluster` and `wait_for_complete`, so its `request_type` is `local_master`).
/// The whole body is kept, so that a forwarded request carries every key it came with.
public struct DapiRequest: Sendable, Equatable {
    public enum RequestType: String, Sendable, Equatable {
        case localAny = "local_any"
        case localMaster = "local_master"
        case distributedMaster = "distributed_master"
    }

    /// The framework callable (§2.2): the registry key is `(module, qualname)`.
    public struct Callable: Sendable, Equatable, Hashable {
        public var module: String
        public var qualname: String
        public var name: String
        public init(module: String, qualname: String, name: String) {
            (self.module, self.qualname, self.name) = (module, qualname, name)
        }
    }

    public var function: Callable
    public var kwargs: JSONObject
    public var requestType: RequestType
    public var waitForComplete: Bool
    public var fromCluster: Bool
    public var broadcasting: Bool
    public var nodes: [String]
    public var apiTimeout: Int
    /// The body as received.
    public var body: JSONObject

    public static let defaultAPITimeout = 10

    /// The body to send on: as received, with this request's `f_kwargs` and `from_cluster`.
    public var encodedBody: JSONObject {
        var b = body
        b["f_kwargs"] = .object(kwargs)
        b["from_cluster"] = .bool(fromCluster)
        return b
    }

    /// Parses a body; every problem is the encoded error 4.8.1 would send back, naming what was wrong.
    public static func parse(_ bytes: [UInt8]) -> Result<DapiRequest, WazuhException> {
        guard let value = try? JSONParser.parse(bytes), case .object(let body) = value else {
            return .failure(.cluster(3036, "the distributed API request is not a JSON object"))
        }
        guard let callable = body["f"]?["__callable__"]?.objectValue else {
            return .failure(.internal(1000, "the distributed API request names no callable ('f.__callable__')"))
        }
        guard let module = callable["__module__"]?.stringValue, let qualname = callable["__qualname__"]?.stringValue,
              !module.isEmpty, !qualname.isEmpty else {
            return .failure(.internal(1000, "the callable of the distributed API request needs '__module__' and '__qualname__' strings"))
        }
        let name = callable["__name__"]?.stringValue ?? String(qualname.split(separator: ".").last ?? Substring(qualname))
        let kwargs: JSONObject
        switch body["f_kwargs"] {
        case nil, .null?: kwargs = JSONObject()
        case .object(let o)?: kwargs = o
        default: return .failure(.internal(1000, "'f_kwargs' of \(module).\(qualname) must be an object"))
        }
        let requestType: RequestType
        switch body["request_type"] {
        case nil, .null?: requestType = .localMaster
        case .string(let s)?:
            guard let t = RequestType(rawValue: s) else {
                return .failure(.internal(1000, "unknown request_type '\(s)' (expected local_any, local_master or distributed_master)"))
            }
            requestType = t
        default: return .failure(.internal(1000, "'request_type' must be a string"))
        }
        func flag(_ key: String) -> Result<Bool, WazuhException> {
            switch body[key] {
            case nil, .null?: return .success(false)
            case .bool(let b)?: return .success(b)
            default: return .failure(.internal(1000, "'\(key)' must be true or false"))
            }
        }
        let nodes: [String]
        switch body["nodes"] {
        case nil, .null?: nodes = []
        case .array(let a)? where a.allSatisfy({ $0.stringValue != nil }): nodes = a.compactMap(\.stringValue)
        default: return .failure(.internal(1000, "'nodes' must be a list of node names"))
        }
        let timeout: Int
        switch body["api_timeout"] {
        case nil, .null?: timeout = defaultAPITimeout
        case let v? where v.intValue != nil: timeout = Int(v.intValue!)
        default: return .failure(.internal(1000, "'api_timeout' must be a number of seconds"))
        }
        return flag("wait_for_complete").flatMap { wait in
            flag("from_cluster").flatMap { fromCluster in
                flag("broadcasting").map { broadcasting in
                    DapiRequest(function: Callable(module: module, qualname: qualname, name: name), kwargs: kwargs,
                                requestType: requestType, waitForComplete: wait, fromCluster: fromCluster,
                                broadcasting: broadcasting, nodes: nodes, apiTimeout: timeout, body: body)
                }
            }
        }
    }
}

/// `distribute_function()` (LOCAL-DAPI-CONTROL.md §2.3): where a request is solved, as a pure decision
/// over the request and the node.
public enum DapiRoute: Equatable, Sendable {
    /// Run it here.
    case local
    /// The master fans it out to the solver nodes (`forward_request`).
    case forward
    /// A worker sends it to its master (`execute_remote_request`).
    case toMaster

    public static func decide(_ request: DapiRequest, onMaster: Bool, clusterEnabled: Bool = true) -> DapiRoute {
        if !clusterEnabled { return .local }
        switch request.requestType {
        case .localAny: return .local
        case .localMaster: return onMaster ? .local : .toMaster
        case .distributedMaster:
            if request.fromCluster { return .local }  // already forwarded: no recursion
            return onMaster ? .forward : .toMaster
        }
    }
}
