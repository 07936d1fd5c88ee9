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
        /// Read the worker's metadata package at `path` and compare it with the snapshot
        /// (→ `onCompared`).
        case check(taskID: String, path: String)
        /// Build the package of the compared differences within `limit` bytes and send it as it is built
        /// (→ `onPackageSent`).
        case sendPackage(taskID: String, limit: Int)
    }

    /// What the comparison found: the worker's file count and the differences.
    public struct Comparison: Equatable, Sendable {
        public var workerFiles: Int
        public var missing: Int
        public var shared: Int
        public var extra: Int
        public init(workerFiles: Int, missing: Int, shared: Int, extra: Int) {
            (self.workerFiles, self.missing, self.shared, self.extra) = (workerFiles, missing, shared, extra)
        }
        public var syncRequired: Bool { missing + shared + extra > 0 }
    }

    /// How a package went out: its name (relative to the home), bytes sent, whether the worker cancelled
    /// it, and how long the sending took.
    public struct Sent: Equatable, Sendable {
        public var relative: String
        public var bytes: Int
        public var cancelled: Bool
        public var seconds: Double
        public init(relative: String, bytes: Int, cancelled: Bool, seconds: Double) {
            (self.relative, self.bytes, self.cancelled, self.seconds) = (relative, bytes, cancelled, seconds)
        }
    }

    public enum Phase: Equatable, Sendable { case idle, receiving(String), checking, offering, sending(String) }
    public enum Timer: Hashable, Sendable { case receive(String) }
    public typealias Output = Directive<Job, Timer>
    static let checkSubtag = "Integrity check"
    static let syncSubtag = "Integrity sync"

    public let worker: String
    public private(set) var permission: IntegrityPermission
    public private(set) var zipLimit: ZipLimit
    public let receiveTimeout: Double
    public private(set) var phase: Phase = .idle
    /// The task waiting for the worker's metadata file, if any.
    public var receiving: String? { if case .receiving(let id) = phase { id } else { nil } }
    private var checkStart: Double = 0
    private var syncStart: Double = 0

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
        phase = .receiving(taskID)
        checkStart = now
        return out + [.log(.info, Self.checkSubtag, "Starting."), .arm(.receive(taskID), after: receiveTimeout)]
    }

    /// `syn_i_w_m_e <task> <path>`: nil when no such task waits (3027), else the directives.
    public mutating func onFileNamed(taskID: String, path: String) -> [Output]? {
        guard receiving == taskID else { return nil }
        phase = .checking
        return [.cancel(.receive(taskID)), .log(.debug, Self.checkSubtag, "Received file from worker: '\(path)'"),
                .run(.check(taskID: taskID, path: path))]
    }

    /// The comparison ended: nothing to do (`syn_m_c_ok`), a sync to offer (`syn_m_c`), or an error
    /// (logged; 4.8.1 tells the worker nothing then, its next round asks again).
    public mutating func onCompared(_ result: Result<Comparison, CheckFailure>, now: Double) -> [Output] {
        guard phase == .checking else { return [] }
        switch result {
        case .failure(let failure):
            phase = .idle
            permission.release()
            return [.log(.error, Self.checkSubtag, failure.line)]
        case .success(let c) where !c.syncRequired:
            phase = .idle
            permission.release()
            return [.log(.info, Self.checkSubtag, "Finished in \(WorkerIntegrity.seconds(now - checkStart)). Received metadata of \(c.workerFiles) files. Sync not required."),
                    .request("syn_m_c_ok", [])]
        case .success(let c):
            phase = .offering
            syncStart = now
            return [.log(.info, Self.checkSubtag, "Finished in \(WorkerIntegrity.seconds(now - checkStart)). Received metadata of \(c.workerFiles) files. Sync required."),
                    .log(.info, Self.syncSubtag, "Starting."),
                    .log(.info, Self.syncSubtag, "Files to create in worker: \(c.missing) | Files to update in worker: \(c.shared) | Files to delete in worker: \(c.extra)"),
                    .request("syn_m_c", [])]
        }
    }

    /// Why a check ended early, as its log line says it.
    public struct CheckFailure: Error, Equatable, Sendable {
        public var line: String
        public init(_ line: String) { self.line = line }
    }

    /// The worker's answer to `syn_m_c`: the task ID its package goes under.
    public mutating func onOffer(_ outcome: RequestOutcome) -> [Output] {
        guard phase == .offering else { return [] }
        guard case .success(.ok(let id)) = outcome else {
            phase = .idle
            permission.release()
            let e: WazuhException
            switch outcome {
            case .success(let r): e = .cluster(3016, r.text)
            case .failure(let l): e = l.exception
            }
            return [.log(.error, Self.syncSubtag, "Error sending zip file: \(e)"), .request("syn_m_c_r", Array("None ".utf8) + e.payload)]
        }
        let taskID = String(decoding: id, as: UTF8.self)
        phase = .sending(taskID)
        return [.log(.debug, Self.syncSubtag, "Sending zip file."), .run(.sendPackage(taskID: taskID, limit: zipLimit.current))]
    }

    /// The package went out (or could not): named with `syn_m_c_e`, or withdrawn with `syn_m_c_r`; the
    /// limit adapts and the lock is released.
    public mutating func onPackageSent(taskID: String, _ result: Result<Sent, WazuhException>, now: Double) -> [Output] {
        guard phase == .sending(taskID) else { return [] }
        phase = .idle
        switch result {
        case .failure(let e):
            permission.release()
            return [.log(.error, Self.syncSubtag, "Error sending zip file: \(e)"), .request("syn_m_c_r", Array("\(taskID) ".utf8) + e.payload)]
        case .success(let sent):
            return [.log(.debug, Self.syncSubtag, "Zip file sent."), .request("syn_m_c_e", text: "\(taskID) \(sent.relative)")]
                + onSyncEnded(cancelled: sent.cancelled, sentBytes: sent.bytes, sendSeconds: sent.seconds)
                + [.log(.info, Self.syncSubtag, "Finished in \(WorkerIntegrity.seconds(now - syncStart)).")]
        }
    }

    /// `syn_i_w_m_r <task> <error>`: the worker gave up; the lock is released.
    public mutating func onWorkerError(taskID: String, error: WazuhException) -> [Output] {
        var out: [Output] = []
        if let waiting = receiving, waiting == taskID || taskID == "None" {
            out.append(.cancel(.receive(waiting)))
            out.append(.log(.error, Self.checkSubtag, "Error receiving worker's integrity information: \(error)"))
        } else {
            out.append(.log(.error, Self.checkSubtag, "Error in synchronization process: \(error)"))
        }
        // A worker that gave up on the sync it was sent ends it too.
        phase = .idle
        permission.release()
        return out
    }

    public mutating func onTimer(_ timer: Timer) -> [Output] {
        guard case .receive(let taskID) = timer, receiving == taskID else { return [] }
        phase = .idle
        permission.release()
        let e = WazuhException.cluster(3039)
        return [.request("cancel_task", Array((taskID + " ").utf8) + e.payload),
                .log(.error, Self.checkSubtag, "Error receiving worker's integrity information: \(e)")]
    }

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
        defer { phase = .idle; permission.release() }
        return receiving.map { [.cancel(.receive($0))] } ?? []
    }

    static func megabytes(_ text: String, _ bytes: Int) -> String {
        "\(text) " + String(format: "%.2f", Double(bytes) / 1_048_576) + " MB."
    }
}
