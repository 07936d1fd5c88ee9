import Common
import Foundation

/// A framework function clusterd answers natively (LOCAL-DAPI-CONTROL.md §2.2: the registry is keyed
/// by `(__module__, __qualname__)`). Errors are thrown as `WazuhException`; the executor encodes them,
/// naming the node (`dapi_errors`).
public enum DapiFunction: Sendable {
    /// Blocking work (SQLite, files): runs on the CPU pool.
    case blocking(@Sendable (DapiCall) throws -> DapiOutcome)
    /// Work that awaits the node (connected workers, the master's answers).
    case async(@Sendable (DapiCall) async throws -> DapiOutcome)
}

/// One entry of a registry table.
public struct DapiEntry: Sendable {
    public let module: String
    public let qualname: String
    public let function: DapiFunction
    public init(_ module: String, _ qualname: String, _ function: DapiFunction) {
        (self.module, self.qualname, self.function) = (module, qualname, function)
    }
}

/// What a function may read of the node it runs on.
public struct DapiEnvironment: Sendable {
    public let nodeName: String
    public let isMaster: Bool
    public let home: String
    public let config: ClusterConfig
    public let options: InternalOptions
    public let store: any AgentBackend
    public let log: ClusterLog
    /// `get_nodes` items of the cluster (name, type, version, ip), as the master's `get_connected_nodes`
    /// lists them (the master itself first). On a worker, asked of the master.
    public let connectedNodes: @Sendable () async throws -> [JSONValue]
    /// `get_health` for the given node names (nil: all). On a worker, asked of the master.
    public let health: @Sendable (_ filter: [String]?) async throws -> JSONValue
    /// The master's registration service (`add_agent`); nil on a worker.
    public let registration: (@Sendable (_ authdRequest: [UInt8]) async -> String)?

    public init(nodeName: String, isMaster: Bool, home: String, config: ClusterConfig, options: InternalOptions,
                store: any AgentBackend, log: ClusterLog,
                connectedNodes: @escaping @Sendable () async throws -> [JSONValue],
                health: @escaping @Sendable ([String]?) async throws -> JSONValue,
                registration: (@Sendable ([UInt8]) async -> String)?) {
        (self.nodeName, self.isMaster, self.home, self.config, self.options) = (nodeName, isMaster, home, config, options)
        (self.store, self.log, self.connectedNodes, self.health, self.registration) = (store, log, connectedNodes, health, registration)
    }

    public var nodeType: String { isMaster ? "master" : "worker" }
}

/// One call of a function: the request (its `f_kwargs` already adjusted for this node) and the node.
public struct DapiCall: Sendable {
    public var request: DapiRequest
    public let env: DapiEnvironment

    public init(request: DapiRequest, env: DapiEnvironment) {
        self.request = request
        self.env = env
    }

    public var kwargs: JSONObject { request.kwargs }
    public var functionName: String { "\(request.function.module).\(request.function.qualname)" }

    /// A kwarg of the wrong type is a `WazuhError` naming the argument, the function and what came.
    public func badArgument(_ key: String, _ expected: String) -> WazuhException {
        let got = kwargs[key].map { Self.typeName($0) } ?? "nothing"
        return .error(1000, "argument '\(key)' of \(functionName) must be \(expected), got \(got)")
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        case .raw(let r): return typeName(r.value)
        }
    }

    /// A string kwarg (nil when absent or null).
    public func string(_ key: String) throws(WazuhException) -> String? {
        switch kwargs[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw badArgument(key, "a string")
        }
    }

    /// A list of strings; a single string counts as a one-element list, numbers as their text (agent ids
    /// may arrive as numbers).
    public func stringList(_ key: String) throws(WazuhException) -> [String]? {
        switch kwargs[key] {
        case nil, .null?: return nil
        case .string(let s)?: return [s]
        case .array(let a)?:
            var out: [String] = []
            for v in a {
                switch v {
                case .string(let s): out.append(s)
                case .int(let i): out.append(String(i))
                default: throw badArgument(key, "a list of strings")
                }
            }
            return out
        default: throw badArgument(key, "a list of strings")
        }
    }

    /// An integer kwarg (a whole float or a numeric string is accepted, as the API's casting does).
    public func int(_ key: String) throws(WazuhException) -> Int? {
        switch kwargs[key] {
        case nil, .null?: return nil
        case let v? where v.intValue != nil: return Int(v.intValue!)
        case .string(let s)? where Int(s) != nil: return Int(s)!
        default: throw badArgument(key, "an integer")
        }
    }

    public func bool(_ key: String) throws(WazuhException) -> Bool? {
        switch kwargs[key] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        case .string(let s)? where s == "true" || s == "false": return s == "true"
        default: throw badArgument(key, "true or false")
        }
    }

    public func object(_ key: String) throws(WazuhException) -> JSONObject? {
        switch kwargs[key] {
        case nil, .null?: return nil
        case .object(let o)?: return o
        default: throw badArgument(key, "an object")
        }
    }
}

/// The functions clusterd serves, looked up by `(__module__, __qualname__)`.
public enum DapiRegistry {
    public struct Key: Hashable, Sendable {
        public let module: String
        public let qualname: String
    }

    static let tables: [[DapiEntry]] = [DapiClusterFunctions.table, DapiAgentFunctions.table, DapiManagerFunctions.table,
                                        DapiRulesetFunctions.table, DapiClusterAPIFunctions.table]

    public static let functions: [Key: DapiFunction] = {
        var d: [Key: DapiFunction] = [:]
        for table in tables { for e in table { d[Key(module: e.module, qualname: e.qualname)] = e.function } }
        return d
    }()

    public static func lookup(_ callable: DapiRequest.Callable) -> DapiFunction? {
        functions[Key(module: callable.module, qualname: callable.qualname)]
    }

    /// Every served function as `module.qualname`, sorted (for the man page and logs).
    public static var names: [String] { functions.keys.map { "\($0.module).\($0.qualname)" }.sorted() }
}
