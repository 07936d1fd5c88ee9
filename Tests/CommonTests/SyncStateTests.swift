import Testing
@testable import Common

@Suite struct IntegrityPermissionTests {
    @Test func grantedOncePerCycle() {
        var p = IntegrityPermission(maxLockedTime: 1000)
        var cycle: Set<String> = []
        #expect(p.ask(worker: "w1", grantedThisCycle: &cycle, now: 0).granted)
        #expect(!p.ask(worker: "w1", grantedThisCycle: &cycle, now: 1).granted, "second ask in the same cycle")
        cycle.removeAll()  // Local integrity finished
        #expect(p.ask(worker: "w1", grantedThisCycle: &cycle, now: 2).granted)
    }

    @Test func lockedUntilReleasedOrExpired() {
        var p = IntegrityPermission(maxLockedTime: 1000)
        var cycle: Set<String> = []
        p.take(now: 10)
        #expect(!p.ask(worker: "w1", grantedThisCycle: &cycle, now: 20).granted)
        cycle.removeAll()
        let late = p.ask(worker: "w1", grantedThisCycle: &cycle, now: 1011)
        #expect(late == .init(granted: true, autoReleased: true))
        p.take(now: 1011)
        p.release()
        cycle.removeAll()
        #expect(p.ask(worker: "w1", grantedThisCycle: &cycle, now: 1012) == .init(granted: true, autoReleased: false))
    }
}

@Suite struct ZipLimitTests {
    @Test func shrinkOnCancelGrowAfterFastRounds() {
        var z = ZipLimit(max: 1_000_000_000, min: 30_000_000, tolerance: 0.2, receiveTimeout: 120)
        #expect(z.adjust(cancelled: false, sentBytes: 10, sendSeconds: 1) == .unchanged)  // already at max
        #expect(z.adjust(cancelled: true, sentBytes: 100_000_000, sendSeconds: 120) == .decreased(80_000_000))
        #expect(z.adjust(cancelled: true, sentBytes: 1_000_000, sendSeconds: 120) == .decreased(30_000_000))
        #expect(z.adjust(cancelled: false, sentBytes: 1, sendSeconds: 95) == .increased(37_500_000))
        #expect(z.adjust(cancelled: false, sentBytes: 1, sendSeconds: 97) == .unchanged, "slow round: no growth")
        for _ in 0..<40 { _ = z.adjust(cancelled: false, sentBytes: 1, sendSeconds: 1) }
        #expect(z.current == 1_000_000_000)
    }
}
