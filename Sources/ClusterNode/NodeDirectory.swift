import Common
import Foundation

/// What the master knows of a connected worker (after a successful or pending `hello`).
struct WorkerInfo: Sendable {
    let name: String
    let nodeType: String
    let version: String
    let ip: String
    let link: PeerLink
    let close: @Sendable () -> Void
    var helloAccepted = false
    var status = WorkerStatus()
    /// Package formats the worker announced (our workers: zip); empty for a Wazuh worker.
    var capabilities: Set<String> = []
}

/// What `cluster_control -i` shows of a worker's synchronisations (LOCAL-DAPI-CONTROL.md §2.9).
struct WorkerStatus: Sendable {
    var integrityCheckStart: Date?
    var integrityCheckEnd: Date?
    var integritySyncStart: Date?
    var integritySyncEnd: Date?
    var filesMissing = 0, filesShared = 0, filesExtra = 0
    var agentInfoStart: Date?
    var agentInfoEnd: Date?
    var agentInfoChunks = 0
    var agentInfoFree = true
    var agentGroupsStart: Date?
    var agentGroupsEnd: Date?
    var agentGroupsChunks = 0
    var agentGroupsFullStart: Date?
    var agentGroupsFullEnd: Date?
    var agentGroupsFullChunks = 0
}

/// The master's table of registered workers, in connection order (cluster_control lists them so).
actor WorkerRegistry {
    private var order: [String] = []
    private var workers: [String: WorkerInfo] = [:]
    private var connectionsPerIP: [String: Int] = [:]
    private var keepalive: MasterKeepalive

    init(maxSilence: Double) { keepalive = MasterKeepalive(maxSilence: maxSilence) }

    func contains(_ name: String) -> Bool { workers[name] != nil }

    func register(_ info: WorkerInfo) {
        if workers[info.name] == nil { order.append(info.name) }
        workers[info.name] = info
        keepalive.onHeard(info.name, now: Date().timeIntervalSince1970)
    }

    func accept(_ name: String) { workers[name]?.helloAccepted = true }

    /// Removes `name` only if it is still held by `link` (a rejected duplicate must not evict the original).
    @discardableResult
    func unregister(_ name: String, link: PeerLink) -> Bool {
        guard let w = workers[name], w.link === link else { return false }
        workers[name] = nil
        order.removeAll { $0 == name }
        keepalive.onGone(name)
        return true
    }

    func update(_ name: String, _ change: @Sendable (inout WorkerInfo) -> Void) {
        if var w = workers[name] {
            change(&w)
            workers[name] = w
        }
    }

    func touch(_ name: String) {
        if workers[name] != nil { keepalive.onHeard(name, now: Date().timeIntervalSince1970) }
    }

    func lastKeepalive(_ name: String) -> Date? {
        keepalive.lastHeard(name).map { Date(timeIntervalSince1970: $0) }
    }

    /// The keep-alive check at `now`: registered workers silent for longer than the allowed time, each
    /// with the directives of `MasterKeepalive` (its log line and the close).
    func keepaliveCheck(now: Double) -> [(WorkerInfo, [Directive<NoJob, NoJob>])] {
        keepalive.onCheck(now: now).compactMap { expired in workers[expired.worker].map { ($0, expired.directives) } }
    }

    var all: [WorkerInfo] { order.compactMap { workers[$0] } }

    func worker(_ name: String) -> WorkerInfo? { workers[name] }

    /// Counts a new TCP connection from `ip`; false when the per-IP limit is reached.
    func openConnection(from ip: String, limit: Int) -> (Bool, Int) {
        let n = connectionsPerIP[ip, default: 0]
        if n >= limit { return (false, n + 1) }
        connectionsPerIP[ip] = n + 1
        return (true, n + 1)
    }

    func closeConnection(from ip: String) {
        let n = connectionsPerIP[ip, default: 1] - 1
        connectionsPerIP[ip] = n > 0 ? n : nil
    }
}
