import Common
import Foundation
import NIOCore

/// The framework bridge's place in the distributed API: a function the registry does not serve goes to
/// the node's Wazuh framework when the node has one (else it is 3009, `unserved`).
extension DapiNode {
    var bridge: FrameworkLanes? { framework.withLock { $0 } }

    func attach(bridge: FrameworkLanes) { framework.withLock { $0 = bridge } }

    /// The bridge of a node whose home (or internal options) has a framework, its executors starting;
    /// nil otherwise. Either way the start-up log says which.
    static func startBridge(ctx: NodeContext, installation: FrameworkInstallation?, loop: EventLoop) -> FrameworkLanes? {
        let isMaster = ctx.config.nodeType == .master
        let tag = isMaster ? "Master" : "Worker \(ctx.config.nodeName)"
        guard let installation else {
            let why = ctx.options.framework.enabled
                ? "No Wazuh framework found (\(ctx.home)/framework/python/bin/python3 and \(ctx.home)/framework/wazuh)"
                : "The framework bridge is disabled (framework.enabled is false in \(ctx.options.framework.file ?? "the internal options"))"
            ctx.log.info(tag: tag, subtag: "D API", "\(why): functions clusterd does not serve answer 3009.")
            return nil
        }
        ctx.log.info(tag: tag, subtag: "D API", "Functions clusterd does not serve run in the Wazuh framework \(installation.origin): "
            + "\(installation.python), path \(installation.path ?? "(the interpreter's own)"), \(installation.processes) executor"
            + (installation.processes == 1 ? "" : "s") + " (and one for API authentication functions, started on first use).")
        let bridge = FrameworkLanes(installation: installation, nodeName: ctx.config.nodeName, isMaster: isMaster, log: ctx.log, loop: loop)
        bridge.start()
        return bridge
    }

    /// `api_timeout` unless `wait_for_complete` (the native functions' bound too).
    static func executionTimeout(_ request: DapiRequest) -> Double? {
        request.waitForComplete ? nil : Double(max(1, request.apiTimeout))
    }

    /// A request this node runs itself and does not serve, with a bridge: the framework's answer sent on
    /// as the framework encoded it (not decoded and encoded again); nil for every other request.
    func bridgedAnswer(_ request: DapiRequest, tag: String, from node: String, client: String) async -> DapiAnswer? {
        guard let bridge, DapiRegistry.lookup(request.function) == nil,
              DapiRoute.decide(request, onMaster: isMaster, clusterEnabled: !ctx.config.disabled) == .local else { return nil }
        let function = "\(request.function.module).\(request.function.qualname)"
        switch await runInFramework(request, bridge) {
        case .result(let bytes):
            return .result(bytes)
        case .exception(let bytes):
            if ctx.log.isEnabled(.debug) {
                ctx.log.debug(tag: tag, subtag: "D API", "\(function) from \(node) (\(client)) ended with \(WazuhException.parse(payload: bytes))")
            }
            return .result(bytes)
        case .refused(let text):
            ctx.log.error(tag: tag, subtag: "D API", "Error in distributed API request from \(node) (\(client)): \(text)")
            return .error(text)
        case .failed(let e):
            let e = named(e)
            ctx.log.debug(tag: tag, subtag: "D API", "\(function) from \(node) (\(client)) ended with \(e)")
            return .result(DapiOutcome.exception(e).bytes)
        }
    }

    /// The framework's answer as a value, for `executeLocal` (the master's own share of a request it
    /// fans out, merged with the workers' answers).
    func bridged(_ request: DapiRequest, by bridge: FrameworkLanes) async -> DapiOutcome {
        switch await runInFramework(request, bridge) {
        case .result(let bytes), .exception(let bytes): return await Self.decodeOffloaded(bytes, pool: ctx.pool)
        case .refused(let text): return .exception(named(.cluster(3009, text)))
        case .failed(let e): return .exception(named(e))
        }
    }

    private func runInFramework(_ original: DapiRequest, _ bridge: FrameworkLanes) async -> BridgeAnswer {
        var request = original
        if request.kwargs["agent_list"] == .string("*") { request.kwargs["agent_list"] = nil }
        let body = PythonJSONEncoder().encodeBytes(.object(request.encodedBody))
        return await bridge.lane(for: request.function).run(body, function: "\(request.function.module).\(request.function.qualname)",
                                timeout: Self.executionTimeout(request))
    }
}
