/// The master's integrity permission rules for one worker (PROTOCOL.md §5.5), time passed in.
///
/// A worker is granted at most once per `Local integrity` cycle (the master-wide set of workers already
/// granted is cleared when a cycle ends). The lock is taken by `syn_i_w_m` and released when the check
/// ends, on `syn_i_w_m_r`, or automatically after `maxLockedTime`.
public struct IntegrityPermission: Sendable {
    public private(set) var isFree = true
    public private(set) var lockedAt: Double = 0
    public let maxLockedTime: Double

    public init(maxLockedTime: Double) { self.maxLockedTime = maxLockedTime }

    public struct Answer: Equatable, Sendable {
        public var granted: Bool
        /// The lock had been held longer than `maxLockedTime` and was released to answer.
        public var autoReleased: Bool
        public init(granted: Bool, autoReleased: Bool) {
            self.granted = granted
            self.autoReleased = autoReleased
        }
    }

    /// Answers `syn_i_w_m_p` for `worker`, updating the cycle's set of granted workers.
    public mutating func ask(worker: String, grantedThisCycle: inout Set<String>, now: Double) -> Answer {
        guard !grantedThisCycle.contains(worker) else { return Answer(granted: false, autoReleased: false) }
        grantedThisCycle.insert(worker)
        var released = false
        if !isFree && now - lockedAt > maxLockedTime {
            isFree = true
            released = true
        }
        return Answer(granted: isFree, autoReleased: released)
    }

    public mutating func take(now: Double) {
        isFree = false
        lockedAt = now
    }

    public mutating func release() { isFree = true }
}

/// The sender's package size limit toward one peer (PROTOCOL.md §5.6): shrink to
/// `max(min, sent × (1 − tolerance))` when the receiver cancelled, grow ×1/(1 − tolerance) up to `max`
/// after a round whose sending took less than `timeout × (1 − tolerance)`.
public struct ZipLimit: Sendable, Equatable {
    public private(set) var current: Int
    public let max: Int
    public let min: Int
    public let tolerance: Double
    public let receiveTimeout: Double

    public init(max: Int, min: Int, tolerance: Double, receiveTimeout: Double) {
        self.current = max
        self.max = max
        self.min = min
        self.tolerance = tolerance
        self.receiveTimeout = receiveTimeout
    }

    public enum Change: Equatable, Sendable { case decreased(Int), increased(Int), unchanged }

    public mutating func adjust(cancelled: Bool, sentBytes: Int, sendSeconds: Double) -> Change {
        if cancelled {
            current = Swift.max(min, Int(Double(sentBytes) * (1 - tolerance)))
            return .decreased(current)
        }
        if current < max && sendSeconds < receiveTimeout * (1 - tolerance) {
            current = Swift.min(max, Int(Double(current) / (1 - tolerance)))
            return .increased(current)
        }
        return .unchanged
    }
}
