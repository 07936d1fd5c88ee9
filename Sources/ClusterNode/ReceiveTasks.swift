import Common
import Foundation
import NIOCore

/// Receive tasks of one connection (PROTOCOL.md §4.4): a sync command creates a task with a UUID, the
/// peer sends the file, then `*_e <id> <path>` (or `*_r <id> <error>`) completes it. The waiting side
/// gives up after `timeout_receiving_file` and tells the sender with `cancel_task`.
actor ReceiveTasks {
    enum State {
        case pending(CheckedContinuation<Result<String, WazuhException>, Never>?)
        case done(Result<String, WazuhException>)
    }

    private var tasks: [String: State] = [:]
    /// The expiry timer of each waiting task, cancelled when its file (or the connection's end) comes.
    private var timers: [String: Scheduled<Void>] = [:]
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func create() -> String {
        let id = UUID().uuidString.lowercased()
        tasks[id] = .pending(nil)
        return id
    }

    /// Completes a task with the received file's relative path; false when no such task exists.
    func complete(_ id: String, with result: Result<String, WazuhException>) -> Bool {
        guard let state = tasks[id] else { return false }
        switch state {
        case .pending(let waiter?):
            tasks[id] = nil
            timers.removeValue(forKey: id)?.cancel()
            waiter.resume(returning: result)
        case .pending(nil):
            tasks[id] = .done(result)
        case .done:
            return false
        }
        return true
    }

    /// Waits for the task's file, at most `timeout` seconds (3039 on expiry).
    func wait(_ id: String, timeout: Double) async -> Result<String, WazuhException> {
        if case .done(let result)? = tasks[id] {
            tasks[id] = nil
            return result
        }
        guard tasks[id] != nil else { return .failure(.cluster(3027, id)) }
        return await withCheckedContinuation { continuation in
            tasks[id] = .pending(continuation)
            timers[id] = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
                Task { await self.expire(id) }
            }
        }
    }

    private func expire(_ id: String) {
        timers[id] = nil
        if case .pending(let waiter?)? = tasks[id] {
            tasks[id] = nil
            waiter.resume(returning: .failure(.cluster(3039)))
        }
    }

    /// The connection closed: every waiter fails.
    func cancelAll() {
        for (_, state) in tasks {
            if case .pending(let waiter?) = state { waiter.resume(returning: .failure(.cluster(3040, "connection closed"))) }
        }
        tasks.removeAll()
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
    }
}

/// Parsing of `<task id> <rest>` payloads.
func splitFirstSpace(_ payload: [UInt8]) -> (String, [UInt8]) {
    guard let i = payload.firstIndex(of: 0x20) else { return (String(decoding: payload, as: UTF8.self), []) }
    return (String(decoding: payload[..<i], as: UTF8.self), Array(payload[(i + 1)...]))
}

/// A new package path `queue/cluster/<worker>/<worker>-<epoch>-<uuid hex>.zip`, named as 4.8.1 names them.
func newPackagePath(home: String, worker: String) -> String {
    let stamp = String(format: "%.6f", Date().timeIntervalSince1970)
    let hex = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    return "\(home)/queue/cluster/\(worker)/\(worker)-\(stamp)-\(hex).zip"
}

func elapsed(since start: Date) -> String { String(format: "%.3fs", Date().timeIntervalSince(start)) }
