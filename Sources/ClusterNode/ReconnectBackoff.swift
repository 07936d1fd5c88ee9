/// When a worker tries its master again (PROTOCOL.md §3.4). 4.8.1 always waits `connection_retry`
/// (10 s), so a worker started a moment before its master, or one whose master restarted, idles most of
/// that. Here the first retry comes after `initial`, each failed attempt doubles the wait, and it never
/// exceeds `ceiling` (`connection_retry`); a connection whose `hello` was accepted starts it over.
public struct ReconnectBackoff: Sendable, Equatable {
    public let initial: Double
    public let ceiling: Double
    public private(set) var next: Double

    public static let defaultInitial = 0.25

    public init(initial: Double = ReconnectBackoff.defaultInitial, ceiling: Double) {
        self.ceiling = max(0, ceiling)
        self.initial = min(max(0, initial), self.ceiling)
        next = self.initial
    }

    /// A connection attempt failed (refused, timed out, hello not accepted): the wait before the next one.
    public mutating func attemptFailed() -> Double {
        let delay = next
        next = min(ceiling, max(next * 2, initial))
        return delay
    }

    /// An established connection ended. After one whose `hello` was accepted the backoff starts over.
    public mutating func connectionLost(wasConnected: Bool) -> Double {
        if wasConnected { next = initial }
        return attemptFailed()
    }
}
