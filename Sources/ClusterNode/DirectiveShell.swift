import Common
import Foundation
import NIOCore
import Synchronization

/// Timers of one connection's machines, on its event loop: armed by `.arm`, disarmed by `.cancel` (or
/// when the connection closes); a timer that fires runs its handler as a task of the connection.
final class ShellTimers<T: Hashable & Sendable>: Sendable {
    private let eventLoop: any EventLoop
    private let tasks: SessionTasks
    private let armed = Mutex<(generation: Int, timers: [T: (Int, Scheduled<Void>)])>((0, [:]))

    init(eventLoop: any EventLoop, tasks: SessionTasks) {
        self.eventLoop = eventLoop
        self.tasks = tasks
    }

    func arm(_ timer: T, after seconds: Double, fire: @escaping @Sendable () async -> Void) {
        armed.withLock { state in
            state.generation += 1
            let generation = state.generation
            let tasks = self.tasks
            let scheduled = eventLoop.scheduleTask(in: .nanoseconds(Int64(max(0, seconds) * 1e9))) { [weak self] in
                self?.armed.withLock { state in
                    if state.timers[timer]?.0 == generation { state.timers[timer] = nil }
                }
                tasks.spawn(fire)
            }
            state.timers.updateValue((generation, scheduled), forKey: timer)?.1.cancel()
        }
    }

    func cancel(_ timer: T) {
        armed.withLock { $0.timers.removeValue(forKey: timer) }?.1.cancel()
    }

    func cancelAll() {
        let all = armed.withLock { state -> [Scheduled<Void>] in
            defer { state.timers.removeAll() }
            return state.timers.values.map(\.1)
        }
        for timer in all { timer.cancel() }
    }
}

/// Runs a machine's directives for a connection's shell: log lines under the connection's tag, timers on
/// its event loop, requests on its link (consecutive requests in order, each outcome fed back), jobs as
/// tasks of the connection, and closing the connection.
struct DirectiveShell<Job: Equatable & Sendable, Timer: Hashable & Sendable>: Sendable {
    let link: PeerLink
    let log: ClusterLog
    let tag: @Sendable () -> String
    let timers: ShellTimers<Timer>
    let onTimer: @Sendable (Timer) async -> Void
    let onResponse: @Sendable (String, RequestOutcome) async -> Void
    let onJob: @Sendable (Job) async -> Void
    let close: @Sendable (String) async -> Void

    func execute(_ directives: [Directive<Job, Timer>]) {
        var requests: [(String, [UInt8])] = []
        func flush() {
            guard !requests.isEmpty else { return }
            let batch = requests
            requests = []
            let (link, onResponse) = (self.link, self.onResponse)
            link.tasks.spawn {
                for (command, payload) in batch {
                    await onResponse(command, await link.outcome(command, payload))
                }
            }
        }
        for directive in directives {
            if case .request(let command, let payload) = directive {
                requests.append((command, payload))
                continue
            }
            flush()
            switch directive {
            case .request: break
            case .log(let level, let subtag, let text):
                log.log(level, tag: tag(), subtag: subtag, text)
            case .arm(let timer, let after):
                let onTimer = self.onTimer
                timers.arm(timer, after: after) { await onTimer(timer) }
            case .cancel(let timer):
                timers.cancel(timer)
            case .run(let job):
                let onJob = self.onJob
                link.tasks.spawn { await onJob(job) }
            case .close(let reason):
                let close = self.close
                link.tasks.spawn { await close(reason) }
            }
        }
        flush()
    }
}

extension PeerLink {
    /// A request's outcome as the machines see it: the response, or the link's failure.
    public func outcome(_ command: String, _ payload: [UInt8]) async -> RequestOutcome {
        do {
            return .success(try await request(command, payload))
        } catch let e as LinkError {
            return .failure(e)
        } catch {
            return .failure(.closed)
        }
    }
}

/// The shells' clock: seconds since the epoch, read once per event and passed to the machine.
func nowSeconds() -> Double { Date().timeIntervalSince1970 }
