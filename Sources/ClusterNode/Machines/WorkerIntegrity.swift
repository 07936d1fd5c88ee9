import Common
import Foundation

/// The worker's integrity task (PROTOCOL.md §5.4, §5.7): every `sync_integrity` seconds, while no
/// check or sync is in progress, ask the master for permission, send the metadata of its files, then
/// either hear that nothing is needed (`syn_m_c_ok`) or receive and apply the master's package
/// (`syn_m_c` … `syn_m_c_e`). The first round runs right after `hello` (4.8.1 waits one interval).
///
/// Nothing waits for ever: a verdict on the metadata that does not come within an interval is not
/// waited for, a package that is not named within `timeout_receiving_file` is cancelled with 3039
/// (4.8.1 keeps the task busy until the next connection), and a disconnect returns the task to idle for
/// the next connection. Events that come late for the phase they belonged to are ignored.
public struct WorkerIntegrity: Sendable {
    public enum Job: Equatable, Sendable {
        /// Scan the node's files and write the metadata package.
        case scanAndPack
        /// Send the package file, then `syn_i_w_m_e <task> <path>`.
        case sendMetadata(taskID: String)
        /// Apply the master's package at `path`.
        case apply(taskID: String, path: String)
    }
    public enum Timer: Hashable, Sendable { case round, receive(String) }
    public typealias Output = Directive<Job, Timer>

    public enum Phase: Equatable, Sendable {
        case idle
        case askingPermission
        case preparing
        case offering
        case sending(String)
        /// The metadata was sent; the master's verdict is awaited since the time given.
        case awaitingVerdict(since: Double)
        case receiving(String)
        case applying(String)
    }

    static let check = "Integrity check"
    static let sync = "Integrity sync"

    public let interval: Double
    public let receiveTimeout: Double
    public private(set) var phase: Phase = .idle
    private var checkStart: Double = 0
    private var syncStart: Double = 0
    /// Added once, to the wait after the first round: see `WorkerAgentInfo.init`.
    private var phaseOffset: Double

    public init(interval: Double, receiveTimeout: Double, phaseOffset: Double = 0) {
        self.interval = interval
        self.receiveTimeout = receiveTimeout
        self.phaseOffset = phaseOffset
    }

    /// Whether a new round may start (4.8.1's `check_integrity_free`).
    public var isFree: Bool { phase == .idle }

    /// The master accepted `hello`: the first round is due at once. The phase is left as it is: the
    /// master may already have offered a sync (`syn_m_c` can arrive before this event).
    public mutating func onConnected() -> [Output] {
        [.arm(.round, after: 0)]
    }

    public mutating func onTimer(_ timer: Timer, now: Double) -> [Output] {
        switch timer {
        case .round:
            var out: [Output] = [.arm(.round, after: interval + phaseOffset)]
            phaseOffset = 0
            // The master's verdict normally comes within moments. One that has not come within an interval
            // (the master failed to read or compare the metadata, and 4.8.1 masters then say nothing) does
            // not keep the task busy: the next round asks again, as a 4.8.1 worker would, and a master
            // still busy with the last one refuses the permission.
            if case .awaitingVerdict(let since) = phase, now - since >= interval {
                out.append(.log(.debug, Self.check, "No verdict from the master on the metadata sent \(Self.seconds(now - since)) ago; asking again."))
                phase = .idle
            }
            if phase == .idle {
                phase = .askingPermission
                out.append(.request("syn_i_w_m_p", []))
            }
            return out
        case .receive(let taskID):
            guard phase == .receiving(taskID) else { return [] }
            phase = .idle
            let e = WazuhException.cluster(3039)
            return [.request("cancel_task", Array((taskID + " ").utf8) + e.payload),
                    .log(.error, Self.sync, "Error synchronizing files: \(e)"),
                    .request("syn_i_w_m_r", Array("None ".utf8) + WazuhException.cluster(1000, e.description).payload)]
        }
    }

    /// The answer to `syn_i_w_m_p`.
    public mutating func onPermission(_ outcome: RequestOutcome, now: Double) -> [Output] {
        guard phase == .askingPermission else { return [] }
        switch outcome {
        case .failure(let e):
            phase = .idle
            return [.log(.error, Self.check, "Error asking for permission: \(e)")]
        case .success(let response):
            guard case .ok(let answer) = response, answer == Array("True".utf8) else {
                phase = .idle
                return [.log(.debug, Self.check, "Master didn't grant permission to start a new synchronization: b'\(response.text)'")]
            }
            phase = .preparing
            checkStart = now
            return [.log(.debug, Self.check, "Permission to synchronize granted."), .log(.info, Self.check, "Starting."), .run(.scanAndPack)]
        }
    }

    /// The metadata package was written (or could not be).
    public mutating func onPackaged(_ error: WazuhException?) -> [Output] {
        guard phase == .preparing else { return [] }
        if let error { return fail(taskID: "None", error) }
        phase = .offering
        return [.request("syn_i_w_m", [])]
    }

    /// The answer to `syn_i_w_m`: the master's task ID for the metadata.
    public mutating func onOffer(_ outcome: RequestOutcome) -> [Output] {
        guard phase == .offering else { return [] }
        guard case .success(.ok(let id)) = outcome else {
            let e: WazuhException
            switch outcome {
            case .success(let r): e = .cluster(3016, r.text)
            case .failure(let l): e = l.exception
            }
            return fail(taskID: "None", e)
        }
        let taskID = String(decoding: id, as: UTF8.self)
        phase = .sending(taskID)
        return [.run(.sendMetadata(taskID: taskID))]
    }

    /// The metadata was sent and named (or sending failed).
    public mutating func onMetadataSent(taskID: String, error: WazuhException?, now: Double) -> [Output] {
        guard phase == .sending(taskID) else { return [] }
        if let error { return fail(taskID: taskID, error) }
        phase = .awaitingVerdict(since: now)
        return []
    }

    private mutating func fail(taskID: String, _ error: WazuhException) -> [Output] {
        phase = .idle
        return [.log(.error, Self.check, "Error sending zip file: \(error)"),
                .request("syn_i_w_m_r", Array("\(taskID) ".utf8) + error.payload)]
    }

    /// `syn_m_c_ok` from the master.
    public mutating func onSyncNotRequired(now: Double) -> [Output] {
        // The verdict may come before the answer to `syn_i_w_m_e` was seen (`.sending`).
        switch phase {
        case .awaitingVerdict, .sending: phase = .idle
        default: break
        }
        return [.log(.info, Self.check, "Finished in \(Self.seconds(now - checkStart)). Sync not required.")]
    }

    /// `syn_m_c` from the master, answered with `taskID`: its package must be named within the timeout.
    public mutating func onSyncOffered(taskID: String, now: Double) -> [Output] {
        var out: [Output] = [.log(.info, Self.check, "Finished in \(Self.seconds(now - checkStart)). Sync required.")]
        if case .receiving(let previous) = phase { out.append(.cancel(.receive(previous))) }
        phase = .receiving(taskID)
        return out + [.arm(.receive(taskID), after: receiveTimeout)]
    }

    /// `syn_m_c_e <task> <path>`: nil when no such task waits (3027).
    public mutating func onPackageNamed(taskID: String, path: String, now: Double) -> [Output]? {
        guard phase == .receiving(taskID) else { return nil }
        phase = .applying(taskID)
        syncStart = now
        return [.cancel(.receive(taskID)), .log(.info, Self.sync, "Starting."), .run(.apply(taskID: taskID, path: path))]
    }

    /// `syn_m_c_r <task> <error>`: the master gave up on its package.
    public mutating func onMasterError(taskID: String, error: WazuhException) -> [Output] {
        guard case .receiving(let waiting) = phase, waiting == taskID || taskID == "None" else {
            return [.log(.error, Self.sync, "Error in synchronization process: \(error)")]
        }
        phase = .idle
        return [.cancel(.receive(waiting)), .log(.error, Self.sync, "Error synchronizing files: \(error)"),
                .request("syn_i_w_m_r", Array("None ".utf8) + WazuhException.cluster(1000, error.description).payload)]
    }

    /// The package was applied (or failed to apply).
    public mutating func onApplied(taskID: String, error: WazuhException?, now: Double) -> [Output] {
        guard phase == .applying(taskID) else { return [] }
        phase = .idle
        guard let error else { return [.log(.info, Self.sync, "Finished in \(Self.seconds(now - syncStart)).")] }
        return [.log(.error, Self.sync, "Error synchronizing files: \(error)"),
                .request("syn_i_w_m_r", Array("None ".utf8) + error.payload)]
    }

    /// The connection closed: whatever was in progress is over; the next connection starts idle.
    public mutating func onDisconnect() -> [Output] {
        var out: [Output] = [.cancel(.round)]
        if case .receiving(let id) = phase { out.append(.cancel(.receive(id))) }
        phase = .idle
        return out
    }

    static func seconds(_ s: Double) -> String { String(format: "%.3fs", s) }
}
