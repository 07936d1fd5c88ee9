import Common
import Foundation
import NIOPosix

/// The API process's side of the local socket (LOCAL-DAPI-CONTROL.md §1): every request becomes one
/// `dapi` (or `get_nodes` / `get_health`) on this node's `c-internal.sock`, as a Wazuh API sends it. The
/// blocking socket client runs on a thread pool of its own, one thread per request in flight.
public final class LocalDapiClient: Sendable {
    let home: String
    let pool: NIOThreadPool
    let timeout: Double
    let asyncTimeout: Double

    public init(home: String, threads: Int = 64, timeout: Double = 20, asyncTimeout: Double = 200) {
        self.home = home
        self.timeout = timeout
        self.asyncTimeout = asyncTimeout
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    public func shutdown() async { try? await pool.shutdownGracefully() }

    /// The body of a `DistributedAPI` request (§2.1), with its keys in `to_dict()`'s order.
    public static func body(module: String, qualname: String, kwargs: JSONObject, requestType: String, waitForComplete: Bool,
                            broadcasting: Bool, nodes: [String], user: String, apiTimeout: Int) -> [UInt8] {
        let name = String(qualname.split(separator: ".").last ?? Substring(qualname))
        let f: JSONValue = ["__callable__": .object(JSONObject([("__name__", .string(name)), ("__module__", .string(module)),
                                                               ("__qualname__", .string(qualname)), ("__type__", "function")]))]
        let body = JSONObject([
            ("f", f), ("f_kwargs", .object(kwargs)), ("request_type", .string(requestType)),
            ("wait_for_complete", .bool(waitForComplete)), ("from_cluster", false), ("is_async", false),
            ("local_client_arg", .null),
            ("basic_services", ["wazuh-modulesd", "wazuh-analysisd", "wazuh-execd", "wazuh-db", "wazuh-remoted"]),
            ("rbac_permissions", ["rbac_mode": "white"]), ("current_user", .string(user)),
            ("broadcasting", .bool(broadcasting)), ("nodes", .array(nodes.map { .string($0) })),
            ("api_timeout", .int(Int64(apiTimeout))),
        ])
        return PythonJSONEncoder().encodeBytes(.object(body))
    }

    /// Sends `command` and returns the answer bytes; the daemon's errors come back as `WazuhException`,
    /// a daemon that is not running as 3012.
    public func execute(_ command: String, _ payload: [UInt8], waitForComplete: Bool = false) async throws -> [UInt8] {
        let client = LocalClient(home: home, timeout: timeout, asyncTimeout: asyncTimeout)
        return try await pool.runIfActive {
            do {
                return try client.execute(command: command, payload: payload)
            } catch let e as LocalClientError {
                throw Self.exception(e)
            }
        }
    }

    /// A DAPI call: the decoded outcome (result or exception), or a text answer as `{"message": text}`.
    public func dapi(_ body: [UInt8], waitForComplete: Bool = false) async throws -> DapiOutcome {
        let bytes = try await execute("dapi", body, waitForComplete: waitForComplete)
        return DapiOutcome.decode(bytes)
    }

    /// `get_nodes` / `get_health` as JSON.
    public func query(_ command: String, _ args: JSONValue) async throws -> JSONValue {
        let bytes = try await execute(command, PythonJSONEncoder().encodeBytes(args))
        do { return try JSONParser.parse(bytes) } catch { throw WazuhException.cluster(3036, "the \(command) answer is not JSON") }
    }

    static func exception(_ e: LocalClientError) -> WazuhException {
        switch e {
        case .remoteText(let text): return .cluster(3009, text)
        case .socketMissing, .connectionRefused: return .internal(e.code, "\(e)".replacingOccurrences(of: "Error 3012 - Cluster is not running: ", with: ""))
        default: return .cluster(e.code, "\(e)")
        }
    }
}
