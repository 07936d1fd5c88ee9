import Common
import NIOCore

/// A node's framework executors in 4.8.1's two lanes: the API authentication functions a Wazuh API
/// calls before every request (`check_token`, `get_security_conf`, ...) run in an executor of their own,
/// started on first use, so that they never wait behind long requests (4.8.1's `authentication_pool`);
/// every other function runs in the general pool of `process_pool_size` executors.
struct FrameworkLanes: Sendable {
    let general: FrameworkBridge
    let authentication: FrameworkBridge

    /// The functions 4.8.1 runs in its authentication pool (by `__name__`).
    static let authenticationFunctions: Set<String> = ["check_token", "check_user_master", "get_permissions", "get_security_conf"]

    init(installation: FrameworkInstallation, nodeName: String, isMaster: Bool, log: ClusterLog, loop: EventLoop) {
        general = FrameworkBridge(installation: installation, nodeName: nodeName, isMaster: isMaster, log: log, loop: loop)
        var one = installation
        one.processes = 1
        authentication = FrameworkBridge(installation: one, nodeName: nodeName, isMaster: isMaster, log: log, loop: loop)
    }

    /// Starts the general pool (the authentication executor starts with its first request).
    func start() { general.start() }

    func lane(for function: DapiRequest.Callable) -> FrameworkBridge {
        Self.authenticationFunctions.contains(function.name) ? authentication : general
    }

    /// Ends both lanes' executors.
    func shutdown() async {
        async let general: Void = self.general.shutdown()
        async let authentication: Void = self.authentication.shutdown()
        _ = await (general, authentication)
    }
}
