import Common
import NIOCore
import Synchronization

/// Requests this node forwarded to another node and is waiting on (LOCAL-DAPI-CONTROL.md §1.7 D:
/// `pending_api_requests`), by request id. The answer arrives as `dapi_res "<id> <string id>"` or
/// `dapi_err "<id> <text>"` on the link the request went out on.
final class DapiPending: Sendable {
    private struct Waiting {
        let promise: EventLoopPromise<DapiOutcome>
        /// The link the request went out on, and what the request becomes if that link closes first.
        let link: ObjectIdentifier
        let onClose: WazuhException
    }
    private let waiting = Mutex<[String: Waiting]>([:])

    /// Registers `id`, runs `send` (which returns the error that kept the request from going out), and
    /// waits for the answer: at most `timeout` seconds (nil: no limit), then 3021; `onClose` if `link`
    /// closes before the answer comes (`failAll(on:)`).
    func await(_ id: String, on link: PeerLink, timeout: Double?, onClose: WazuhException,
               send: () async -> WazuhException?) async -> DapiOutcome {
        let eventLoop = link.eventLoop
        let promise = eventLoop.makePromise(of: DapiOutcome.self)
        waiting.withLock { $0[id] = Waiting(promise: promise, link: ObjectIdentifier(link), onClose: onClose) }
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
        guard let entry = take(id) else { return false }
        entry.promise.succeed(outcome)
        return true
    }

    func contains(_ id: String) -> Bool { waiting.withLock { $0[id] != nil } }

    private func take(_ id: String) -> Waiting? {
        waiting.withLock { $0.removeValue(forKey: id) }
    }

    /// The link closed: every request still waiting on it is answered with its `onClose` error now
    /// rather than at its timeout.
    func failAll(on link: PeerLink) {
        let key = ObjectIdentifier(link)
        let gone = waiting.withLock { d -> [Waiting] in
            let ids = d.filter { $0.value.link == key }.map(\.key)
            return ids.compactMap { d.removeValue(forKey: $0) }
        }
        for w in gone { w.promise.succeed(.exception(w.onClose)) }
    }
}
