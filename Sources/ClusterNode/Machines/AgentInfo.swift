import Common
import Foundation

/// The worker's agent-info task (PROTOCOL.md §6): every `sync_agent_info` seconds (the first right after
/// `hello`), ask the master whether it is free, then send the rows marked `syncreq`; a new round starts
/// once the master reported the last one (`syn_m_a_e` / `syn_m_a_err`), or after `timeout_agent_info`
/// without a report.
public struct WorkerAgentInfo: Sendable {
    public enum Job: Equatable, Sendable { case collectAndSend }
    public enum Timer: Hashable, Sendable { case round }
    public typealias Output = Directive<Job, Timer>
    static let subtag = "Agent-info sync"

    public enum Phase: Equatable, Sendable {
        case idle, askingPermission, sending
        /// The master's report came while this side was still finishing the sending: the master answers
        /// `syn_a_w_m`, applies and reports at once, so its report can be handled before `onSent`.
        case reportedWhileSending
        case awaitingResult(since: Double)
    }

    public let interval: Double
    public let resultTimeout: Double
    public private(set) var phase: Phase = .idle
    /// Added once, to the wait after the first round (see `init`).
    private var phaseOffset: Double

    /// `phaseOffset` (seconds, less than `interval`): added once, to the wait after the first round. The
    /// session draws it at random: workers that connect together (all of them, once a restarted master is
    /// back) would otherwise reach the master in the same moment every round, for as long as they stay
    /// connected, and the master would hold all their rounds at once.
    public init(interval: Double, resultTimeout: Double, phaseOffset: Double = 0) {
        self.interval = interval
        self.resultTimeout = resultTimeout
        self.phaseOffset = phaseOffset
    }

    public mutating func onConnected() -> [Output] {
        [.arm(.round, after: 0)]
    }

    public mutating func onTimer(_ timer: Timer, now: Double) -> [Output] {
        var out: [Output] = [.arm(.round, after: interval + phaseOffset)]
        phaseOffset = 0
        if case .awaitingResult(let since) = phase, now - since > resultTimeout {
            out.append(.log(.error, Self.subtag, "The master did not report on the chunks sent \(WorkerIntegrity.seconds(now - since)) ago; sending again."))
            phase = .idle
        }
        if phase == .idle {
            phase = .askingPermission
            out.append(.request("syn_a_w_m_p", []))
        }
        return out
    }

    public mutating func onPermission(_ outcome: RequestOutcome) -> [Output] {
        guard phase == .askingPermission else { return [] }
        switch outcome {
        case .success(.ok(let answer)) where answer == Array("True".utf8):
            phase = .sending
            return [.run(.collectAndSend)]
        case .failure(let e):
            phase = .idle
            return [.log(.error, Self.subtag, "Error asking for permission: \(e)")]
        case .success:
            phase = .idle
            return []
        }
    }

    /// The round's chunks went out (`sentChunks` of them; 0: nothing was due or it failed).
    public mutating func onSent(sentChunks: Int, now: Double) -> [Output] {
        switch phase {
        case .sending: phase = sentChunks > 0 ? .awaitingResult(since: now) : .idle
        case .reportedWhileSending: phase = .idle
        default: break
        }
        return []
    }

    /// The master's report (`syn_m_a_e` or `syn_m_a_err`). One that comes before the sending is seen to
    /// have ended still ends the round (ignoring it kept the task waiting `timeout_agent_info` for a
    /// report that had come).
    public mutating func onResult() -> [Output] {
        switch phase {
        case .awaitingResult: phase = .idle
        case .sending: phase = .reportedWhileSending
        default: break
        }
        return []
    }

    public mutating func onDisconnect() -> [Output] {
        phase = .idle
        return [.cancel(.round)]
    }
}

/// The master's agent-info task toward one worker (PROTOCOL.md §6): one set of chunks at a time
/// (`syn_a_w_m_p` answers `False` while one is applied); a flag held longer than `timeout_agent_info`
/// is released automatically, so a worker is never locked out by an apply that never reported.
public struct MasterAgentInfo: Sendable {
    public enum Job: Equatable, Sendable { case apply(stringID: String) }
    public typealias Output = Directive<Job, NoJob>

    public let maxBusy: Double
    public private(set) var busySince: Double?

    public init(maxBusy: Double) { self.maxBusy = maxBusy }

    public var isFree: Bool { busySince == nil }

    public mutating func onPermissionRequest(now: Double) -> (free: Bool, directives: [Output]) {
        if let since = busySince, now - since > maxBusy {
            busySince = nil
            return (true, [.log(.warning, "Agent-info sync", "Automatically releasing Agent-info sync permissions flag (b'syn_a_w_m_p') after being locked out for more than \(NodeContext.secondsText(maxBusy))s.")])
        }
        return (isFree, [])
    }

    /// `syn_a_w_m <string id>`.
    public mutating func onChunks(stringID: String, now: Double) -> [Output] {
        busySince = now
        return [.run(.apply(stringID: stringID))]
    }

    public mutating func onApplied() { busySince = nil }

    public mutating func onDisconnect() { busySince = nil }
}
