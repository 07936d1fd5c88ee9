import Common
import Foundation
import NIOCore
import Synchronization

/// What a DAPI queue sends back: the answer string (a result, or an exception encoded as 4.8.1 returns
/// them), or the text of a `dapi_err` (the request could not be read or run at all).
enum DapiAnswer: Sendable, Equatable {
    case result([UInt8])
    case error(String)
}

/// The distributed API of one node (LOCAL-DAPI-CONTROL.md §2): the queues' common entry (`solve`),
/// `distribute_function` (§2.3), local execution of the served functions, and on the master
/// `forward_request` (§2.4) with the merge of the nodes' answers (§2.6). Requests run concurrently, each
/// as a task of the connection it came on, at most `maxConcurrent` executing at once.
final class DapiNode: Sendable {
    let ctx: NodeContext
    let store: any AgentBackend
    let clients: LocalClients
    /// Requests forwarded to workers, waiting for their `dapi_res` (master).
    let pending = DapiPending()
    private let roles = Mutex<(master: Master?, worker: Worker?)>((nil, nil))
    private let slots: RequestSlots
    /// Functions already logged as not served (each is logged once).
    private let refused = Mutex<Set<String>>([])
    /// The node's Wazuh framework, for the functions not served here (`DapiNode+Bridge`); nil: none.
    let framework = Mutex<FrameworkLanes?>(nil)
    static let maxConcurrent = 64

    init(ctx: NodeContext, store: any AgentBackend, clients: LocalClients) {
        self.ctx = ctx
        self.store = store
        self.clients = clients
        slots = RequestSlots(Self.maxConcurrent)
    }

    func attach(master: Master) { roles.withLock { $0.master = master } }
    func attach(worker: Worker) { roles.withLock { $0.worker = worker } }
    var master: Master? { roles.withLock { $0.master } }
    var worker: Worker? { roles.withLock { $0.worker } }
    var isMaster: Bool { ctx.config.nodeType == .master }
    private var nodeName: String { ctx.config.nodeName }

    /// The queue entry: reads `body`, logs `Receiving request: <function> from <node> (<client>)`,
    /// solves it, and returns what to send back.
    func solve(_ body: [UInt8], from node: String, client: String, tag: String) async -> DapiAnswer {
        let request: DapiRequest
        switch DapiRequest.parse(body) {
        case .failure(let e):
            ctx.log.error(tag: tag, subtag: "D API", "Error in distributed API request from \(node) (\(client)): \(e.message)")
            return .error(e.message)
        case .success(let r):
            request = r
        }
        ctx.log.info(tag: tag, subtag: "D API", "Receiving request: \(request.function.name) from \(node) (\(client))")
        if let refusal = Self.moduleRefusal(request.function) {
            ctx.log.error(tag: tag, subtag: "D API", "Error in distributed API request from \(node) (\(client)): \(refusal)")
            return .error(refusal)
        }
        await slots.acquire()
        defer { slots.release() }
        if let answer = await bridgedAnswer(request, tag: tag, from: node, client: client) { return answer }
        let outcome = await distribute(request)
        if case .exception(let e) = outcome {
            ctx.log.debug(tag: tag, subtag: "D API", "\(request.function.module).\(request.function.qualname) from \(node) (\(client)) ended with \(e)")
        }
        return .result(outcome.bytes)
    }

    /// 4.14.3's whitelist: only framework (`wazuh.*`) and API (`api.*`) callables are imported.
    static func moduleRefusal(_ f: DapiRequest.Callable) -> String? {
        let m = f.module
        if m == "wazuh" || m.hasPrefix("wazuh.") || m == "api" || m.hasPrefix("api.") { return nil }
        return "the distributed API only runs functions of the wazuh and api packages; '\(m).\(f.qualname)' is outside them"
    }

    /// `distribute_function()`.
    func distribute(_ request: DapiRequest) async -> DapiOutcome {
        switch DapiRoute.decide(request, onMaster: isMaster, clusterEnabled: !ctx.config.disabled) {
        case .local: return await executeLocal(request)
        case .forward: return await forwardRequest(request)
        case .toMaster: return await executeRemote(request)
        }
    }

    // MARK: local execution

    /// `execute_local_request()`: the served function, bounded by `api_timeout` unless
    /// `wait_for_complete`; an exception comes back as the outcome, naming this node in `dapi_errors`.
    func executeLocal(_ original: DapiRequest) async -> DapiOutcome {
        var request = original
        if request.kwargs["agent_list"] == .string("*") { request.kwargs["agent_list"] = nil }
        let f = request.function
        guard let function = DapiRegistry.lookup(f) else {
            if let bridge { return await bridged(request, by: bridge) }
            return .exception(named(unserved(f)))
        }
        let call = DapiCall(request: request, env: environment())
        let timeout = Self.executionTimeout(request)
        let pool = ctx.pool
        let outcome: DapiOutcome = await Self.bounded(timeout) {
            do {
                switch function {
                case .blocking(let body):
                    return try await pool.run { try body(call) }
                case .async(let body):
                    return try await body(call)
                }
            } catch let e as WazuhException {
                return .exception(e)
            } catch let e as StoreError {
                return .exception(.internal(2008, "\(e)"))
            } catch {
                return .exception(.internal(1000, "\(error)"))
            }
        }
        if case .exception(let e) = outcome { return .exception(named(e)) }
        return outcome
    }

    /// Runs `body`, answering 3021 when it takes longer than `timeout` seconds (its late result is dropped).
    static func bounded(_ timeout: Double?, _ body: @escaping @Sendable () async -> DapiOutcome) async -> DapiOutcome {
        guard let timeout else { return await body() }
        return await withTaskGroup(of: DapiOutcome?.self) { group in
            group.addTask { await body() }
            group.addTask {
                guard (try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9))) != nil else { return nil }
                return .exception(.cluster(3021))
            }
            defer { group.cancelAll() }
            while let next = await group.next() { if let next { return next } }
            return .exception(.cluster(3021))
        }
    }

    /// `get_error_info`: `dapi_errors[<this node>] = {"error": message[, "logfile"]}` unless set.
    func named(_ e: WazuhException) -> WazuhException {
        guard e.dapiErrors.isEmpty else { return e }
        var out = e
        var info = JSONObject([("error", .string(e.message))])
        if e.kind == .internalError { info["logfile"] = "WAZUH_HOME/logs/cluster.log" }
        out.dapiErrors[nodeName] = .object(info)
        return out
    }

    /// The error for a function clusterd does not serve, logged once per function.
    private func unserved(_ f: DapiRequest.Callable) -> WazuhException {
        let full = "\(f.module).\(f.qualname)"
        let isSecurity = f.module == "wazuh.core.security" || f.module == "wazuh.security" || f.module.hasPrefix("api.authentication")
            || ["check_token", "get_security_conf", "check_user_master", "get_permissions"].contains(f.name)
        let text = isSecurity
            ? "\(full) is an API authentication function; clusterd does not hold API users or tokens (cluster-api authenticates locally)"
            : "clusterd does not serve the API function \(full)"
        if refused.withLock({ $0.insert(full).inserted }) {
            ctx.log.warning(tag: isMaster ? "Master" : "Worker \(nodeName)", subtag: "D API", "Refused a request for \(full): \(isSecurity ? "an authentication function" : "not served by clusterd").")
        }
        return .error(3009, text)
    }

    /// What functions read of this node.
    func environment() -> DapiEnvironment {
        let (master, worker) = roles.withLock { ($0.master, $0.worker) }
        let connectedNodes: @Sendable () async throws -> [JSONValue]
        let health: @Sendable ([String]?) async throws -> JSONValue
        var registration: (@Sendable ([UInt8]) async -> String)?
        if let master {
            connectedNodes = { await master.nodes() }
            health = { await master.health(filter: $0) }
            registration = { await master.sendSync.authd($0) }
        } else {
            connectedNodes = {
                let reply = try await Self.askMaster(worker, "get_nodes", Array(#"{"filter_node": null, "offset": 0, "limit": 500, "sort": null, "search": null, "select": null, "filter_type": "all", "distinct": false}"#.utf8))
                return reply["items"]?.arrayValue ?? []
            }
            health = { filter in
                try await Self.askMaster(worker, "get_health", Array((filter.map { JSONValue.array($0.map { .string($0) }) } ?? .null).pythonText.utf8))
            }
        }
        return DapiEnvironment(nodeName: nodeName, isMaster: isMaster, home: ctx.home, config: ctx.config, options: ctx.options,
                               store: store, log: ctx.log, connectedNodes: connectedNodes, health: health, registration: registration)
    }

    private static func askMaster(_ worker: Worker?, _ command: String, _ payload: [UInt8]) async throws -> JSONValue {
        guard let link = worker?.masterLink else { throw WazuhException.cluster(3023) }
        switch try await link.request(command, payload) {
        case .ok(let bytes): return try JSONParser.parse(bytes)
        case .err(let e): throw e
        case .other(let c, _): throw WazuhException.cluster(3018, "the master answered \(c)")
        }
    }

    // MARK: worker -> master

    /// `execute_remote_request()` inside a worker's clusterd: the request goes to the master as
    /// `dapi "<id> <json>"` and its answer comes back as `dapi_res "<id> <string id>"`.
    func executeRemote(_ request: DapiRequest) async -> DapiOutcome {
        guard let link = worker?.masterLink else { return .exception(named(.cluster(3023))) }
        let id = UUID().uuidString.lowercased()
        let body = Array((id + " ").utf8) + PythonJSONEncoder().encodeBytes(.object(request.encodedBody))
        return await pending.await(id, on: link, timeout: ctx.options.timeoutDapiRequest, onClose: .cluster(3023)) {
            await Self.sendExpectingOK(link, "dapi", body)
        }
    }

    static func sendExpectingOK(_ link: PeerLink, _ command: String, _ body: [UInt8]) async -> WazuhException? {
        do {
            switch try await link.request(command, body) {
            case .ok: return nil
            case .err(let e): return e
            case .other(let c, _): return .cluster(3018, "unexpected answer \(c)")
            }
        } catch {
            return WazuhException.wrapping(error)
        }
    }
}
