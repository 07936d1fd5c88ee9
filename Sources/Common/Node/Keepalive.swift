/// The master's view of keep-alives (PROTOCOL.md §3.3): when each peer was last heard from, and which
/// ones have been silent too long. Time is passed in, so the rule is tested with a fake clock.
public struct KeepaliveTracker<Key: Hashable & Sendable>: Sendable {
    public let maxSilence: Double
    private var lastSeen: [Key: Double] = [:]

    public init(maxSilence: Double) { self.maxSilence = maxSilence }

    /// A peer was heard from (registration or `echo-c`) at `time` seconds.
    public mutating func seen(_ key: Key, at time: Double) { lastSeen[key] = time }

    public mutating func remove(_ key: Key) { lastSeen[key] = nil }

    public func lastSeen(_ key: Key) -> Double? { lastSeen[key] }

    /// Peers silent for more than `maxSilence` seconds at `now`.
    public func expired(at now: Double) -> [Key] {
        lastSeen.filter { now - $0.value > maxSilence }.map(\.key)
    }
}

/// The worker's keep-alive failure rule: after `maxFailures` consecutive failures, disconnect;
/// any success resets the count.
public struct KeepaliveFailures: Sendable {
    public let maxFailures: Int
    public private(set) var consecutive = 0

    public init(maxFailures: Int) { self.maxFailures = max(1, maxFailures) }

    public enum Decision: Equatable, Sendable { case keepGoing, disconnect }

    public mutating func succeeded() { consecutive = 0 }

    public mutating func failed() -> Decision {
        consecutive += 1
        return consecutive >= maxFailures ? .disconnect : .keepGoing
    }
}
