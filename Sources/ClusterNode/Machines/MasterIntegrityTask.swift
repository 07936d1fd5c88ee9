import Common
import Foundation

/// The master-wide part of integrity (PROTOCOL.md §5.5, §5.8): whether a `Local integrity` snapshot
/// exists yet, and which workers were granted a check in the current cycle (at most once each; a new
/// snapshot opens a new cycle).
public struct IntegrityCycle: Sendable, Equatable {
    public private(set) var hasSnapshot = false
    public var grantedThisCycle: Set<String> = []

    public init() {}

    /// A `Local integrity` round ended with a new snapshot.
    public mutating func onSnapshot() {
        hasSnapshot = true
        grantedThisCycle.removeAll()
    }
}

/// The master's integrity task toward one worker (PROTOCOL.md §5.5, §5.6): the permission lock (taken
/// by `syn_i_w_m`, released when the check or sync ends, on `syn_i_w_m_r`, when the worker's file does
/// not come within `timeout_receiving_file`, or automatically after `max_locked_integrity_time`), the
/// receive task waiting for the worker's metadata, and the package size limit toward that worker
/// (shrunk when the worker cancels a sync, grown back after fast rounds).
public struct MasterIntegrityTask: Sendable {
    public enum Job: Equatable, Sendable {
        /// Read the worker's metadata package at `path`, compare it with the snapshot, answer.
        case check(taskID: String, path: String)
    }
    public enum Timer: Hashable, Sendable { case receive(String) }
    public typealias Output = Directive<Job, Timer>
    static let checkSubtag = "Integrity check"
    static let syncSubtag = "Integrity sync"

    public let worker: String
    public private(set) var permission: IntegrityPermission
    public private(set) var zipLimit: ZipLimit
    public let receiveTimeout: Double
    /// The task waiting for the worker's metadata file, if any.
    public private(set) var receiving: String?

    public init(worker: String, options: InternalOptions) {
        self.worker = worker
        permission = IntegrityPermission(maxLockedTime: options.maxLockedIntegrityTime)
        zipLimit = ZipLimit(max: options.maxZipSize, min: options.minZipSize, tolerance: options.zipLimitTolerance,
                            receiveTimeout: options.timeoutReceivingFile)
        receiveTimeout = options.timeoutReceivingFile
    }

    public var isFree: Bool { permission.isFree }

    /// `syn_i_w_m_p`: granted at most once per cycle, only once a snapshot exists, and only while the lock
    /// is free (a lock older than `max_locked_integrity_time` is released first, with 4.8.1's warning).
    public mutating func onPermissionRequest(cycle: inout IntegrityCycle, now: Double) -> (granted: Bool, directives: [Output]) {
        guard cycle.hasSnapshot else { return (false, []) }
        let answer = permission.ask(worker: worker, grantedThisCycle: &cycle.grantedThisCycle, now: now)
        var out: [Output] = []
        if answer.autoReleased {
            out.append(.log(.warning, "Main", "Automatically releasing Integrity check permissions flag (b'syn_i_w_m_p') after being locked out for more than \(Int(permission.maxLockedTime))s."))
        }
        return (answer.granted, out)
    }

    /// `syn_i_w_m`: the check starts; the worker's file must be named within `timeout_receiving_file`.
    public mutating func onCheckRequested(taskID: String, now: Double) -> [Output] {
        permission.take(now: now)
        var out: [Output] = []
        if let previous = receiving { out.append(.cancel(.receive(previous))) }
        receiving = taskID
        return out + [.arm(.receive(taskID), after: receiveTimeout)]
    }

    /// `syn_i_w_m_e <task> <path>`: nil when no such task waits (3027), else the directives.
    public mutating func onFileNamed(taskID: String, path: String) -> [Output]? {
        guard receiving == taskID else { return nil }
        receiving = nil
        return [.cancel(.receive(taskID)), .run(.check(taskID: taskID, path: path))]
    }

    /// `syn_i_w_m_r <task> <error>`: the worker gave up; the lock is released.
    public mutating func onWorkerError(taskID: String, error: WazuhException) -> [Output] {
        var out: [Output] = []
        if let waiting = receiving, waiting == taskID || taskID == "None" {
            out.append(.cancel(.receive(waiting)))
            receiving = nil
            out.append(.log(.error, Self.checkSubtag, "Error receiving worker's integrity information: \(error)"))
        } else {
            out.append(.log(.error, Self.checkSubtag, "Error in synchronization process: \(error)"))
        }
        permission.release()
        return out
    }

    public mutating func onTimer(_ timer: Timer) -> [Output] {
        guard case .receive(let taskID) = timer, receiving == taskID else { return [] }
        receiving = nil
        permission.release()
        let e = WazuhException.cluster(3039)
        return [.request("cancel_task", Array((taskID + " ").utf8) + e.payload),
                .log(.error, Self.checkSubtag, "Error receiving worker's integrity information: \(e)")]
    }

    /// The check ended without a sync (nothing to send, or an error): the lock is released.
    public mutating func onCheckEnded() { permission.release() }

    /// A sync ended: the worker's limit adapts to how it went, and the lock is released.
    public mutating func onSyncEnded(cancelled: Bool, sentBytes: Int, sendSeconds: Double) -> [Output] {
        permission.release()
        switch zipLimit.adjust(cancelled: cancelled, sentBytes: sentBytes, sendSeconds: sendSeconds) {
        case .decreased(let v): return [.log(.debug, Self.syncSubtag, Self.megabytes("Decreasing sync size limit to", v))]
        case .increased(let v): return [.log(.debug, Self.syncSubtag, Self.megabytes("Increasing sync size limit to", v))]
        case .unchanged: return []
        }
    }

    /// The connection closed: nothing is waited for any more and the lock is free for the next session.
    public mutating func onDisconnect() -> [Output] {
        defer { receiving = nil; permission.release() }
        return receiving.map { [.cancel(.receive($0))] } ?? []
    }

    static func megabytes(_ text: String, _ bytes: Int) -> String {
        "\(text) " + String(format: "%.2f", Double(bytes) / 1_048_576) + " MB."
    }
}
