import ClusterNode
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
