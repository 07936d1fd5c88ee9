import Common

/// The worker's keep-alive (PROTOCOL.md §3.3): `echo-c keepalive` every `keep_alive` seconds; the
/// master's `ok-m` resets the failure count; after `max_failed_keepalive_attempts` consecutive failures
/// (an error reply, a timeout, a broken link) the connection is closed so that it is made again.
public struct WorkerKeepalive: Sendable {
    public enum Timer: Hashable, Sendable { case next }
    public typealias Output = Directive<NoJob, Timer>
    static let subtag = "Keep Alive"

    public let interval: Double
    public private(set) var failures: KeepaliveFailures

    public init(interval: Double, maxFailures: Int) {
        self.interval = interval
        failures = KeepaliveFailures(maxFailures: maxFailures)
    }

    /// The master accepted `hello`: the first keep-alive is due in one interval.
    public mutating func onConnected() -> [Output] {
        failures = KeepaliveFailures(maxFailures: failures.maxFailures)
        return [.arm(.next, after: interval)]
    }

    public mutating func onTimer(_ timer: Timer) -> [Output] {
        [.request("echo-c", text: "keepalive")]
    }

    public mutating func onResponse(_ outcome: RequestOutcome) -> [Output] {
        if case .success(let response) = outcome, case .other(command: "ok-m", _) = response {
            failures.succeeded()
            return [.log(.info, Self.subtag, response.text), .arm(.next, after: interval)]
        }
        var out: [Output] = [.log(.error, Self.subtag, "Error sending keep alive: \(outcome.outcomeText)")]
        if failures.failed() == .disconnect {
            out.append(.log(.error, Self.subtag, "Maximum number of failed keep alives reached. Disconnecting."))
            out.append(.close("Maximum number of failed keep alives reached"))
        } else {
            out.append(.arm(.next, after: interval))
        }
        return out
    }
}

/// The master's keep-alive watch (PROTOCOL.md §3.3): every `check_worker_lastkeepalive` seconds, workers
/// silent for more than `max_allowed_time_without_keepalive` are disconnected, so that a half-open
/// connection cannot hold a worker's name for ever.
public struct MasterKeepalive: Sendable {
    static let subtag = "Keep alive"
    public private(set) var tracker: KeepaliveTracker<String>

    public init(maxSilence: Double) { tracker = KeepaliveTracker(maxSilence: maxSilence) }

    /// A worker registered or sent `echo-c`.
    public mutating func onHeard(_ worker: String, now: Double) { tracker.seen(worker, at: now) }

    public mutating func onGone(_ worker: String) { tracker.remove(worker) }

    public func lastHeard(_ worker: String) -> Double? { tracker.lastSeen(worker) }

    /// The periodic check: the workers to disconnect, each with its log lines.
    public mutating func onCheck(now: Double) -> [(worker: String, directives: [Directive<NoJob, NoJob>])] {
        tracker.expired(at: now).sorted().map { worker in
            (worker, [.log(.error, Self.subtag, "No keep alives have been received from \(worker) in the last minute. Disconnecting"),
                      .close("no keep-alive from \(worker) for more than \(NodeContext.secondsText(tracker.maxSilence)) s")])
        }
    }
}
