import ClusterNode
import Synchronization
import Testing

@Suite struct ReconnectBackoffTests {
    @Test func firstRetriesAreShortAndRiseToConnectionRetry() {
        var b = ReconnectBackoff(initial: 0.25, ceiling: 10)
        let waits = (0..<8).map { _ in b.attemptFailed() }
        #expect(waits == [0.25, 0.5, 1, 2, 4, 8, 10, 10])
    }

    @Test func anAcceptedConnectionStartsTheBackoffOver() {
        var b = ReconnectBackoff(initial: 0.25, ceiling: 10)
        for _ in 0..<6 { _ = b.attemptFailed() }
        #expect(b.connectionLost(wasConnected: true) == 0.25)
        #expect(b.attemptFailed() == 0.5)
    }

    @Test func aConnectionLostBeforeHelloKeepsRising() {
        var b = ReconnectBackoff(initial: 0.25, ceiling: 10)
        _ = b.attemptFailed()
        #expect(b.connectionLost(wasConnected: false) == 0.5)
    }

    @Test func aCeilingBelowTheInitialWaitWins() {
        var b = ReconnectBackoff(initial: 0.25, ceiling: 0.1)
        #expect(b.attemptFailed() == 0.1)
        #expect(b.attemptFailed() == 0.1)
    }
}

@Suite struct CPUPoolTests {
    /// A loop started on a pool thread, with every other pool thread busy in loops of their own, still
    /// completes: callers never wait for helpers queued behind them.
    @Test func nestedLoopsOnASaturatedPoolComplete() async throws {
        let pool = CPUPool(threads: 2)
        let loop = pool.parallelLoop
        let sums = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await pool.run {
                        let total = Atomic<Int>(0)
                        loop.run(500) { i in total.add(i, ordering: .relaxed) }
                        return total.load(ordering: .relaxed)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums == [Int](repeating: 124_750, count: 6))
        await pool.shutdown()
    }
}
