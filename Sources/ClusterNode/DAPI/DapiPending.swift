import Common
import NIOCore
import Synchronization

/// Requests this node forwarded to another node and is waiting on (LOCAL-DAPI-CONTROL.md §1.7 D:
/// `pending_api_requests`), by request id. The answer arrives as `dapi_res "<id> <string id>"` or
/// `dapi_err "<id> <text>"` on the link the request went out on.
final class DapiPending: Sendable {
    private let waiting = Mutex<[String: EventLoopPromise<DapiOutcome>]>([:])

    /// Registers `id`, runs `send` (which returns the error that kept the request from going out), and
    /// waits for the answer: at most `timeout` seconds (nil: no limit), then 3021.
    func await(_ id: String, on eventLoop: any EventLoop, timeout: Double?, send: () async -> WazuhException?) async -> DapiOutcome {
        let promise = eventLoop.makePromise(of: DapiOutcome.self)
        waiting.withLock { $0[id] = promise }
        var timer: Scheduled<Void>?
        if let timeout {
            timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) { [weak self] in
                if self?.take(id) != nil { promise.succeed(.exception(.cluster(3021))) }
            }
        }
        if let error = await send() {
            timer?.cancel()
            if take(id) != nil { promise.succeed(.exception(error)) }
        }
        let outcome = (try? await promise.futureResult.get()) ?? .exception(.cluster(3021))
        timer?.cancel()
        return outcome
    }

    /// Delivers the answer of `id`; false when no request of that id is waiting (a local client's name
    /// instead, or an answer after its timeout).
    func resolve(_ id: String, _ outcome: DapiOutcome) -> Bool {
        guard let promise = take(id) else { return false }
        promise.succeed(outcome)
        return true
    }

    func contains(_ id: String) -> Bool { waiting.withLock { $0[id] != nil } }

    private func take(_ id: String) -> EventLoopPromise<DapiOutcome>? {
        waiting.withLock { $0.removeValue(forKey: id) }
    }

    /// Answers every waiting request with `error` (the node stops).
    func failAll(_ error: WazuhException) {
        let all = waiting.withLock { d -> [EventLoopPromise<DapiOutcome>] in
            defer { d.removeAll() }
            return Array(d.values)
        }
        for p in all { p.succeed(.exception(error)) }
    }
}
