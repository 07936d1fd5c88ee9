import Testing
@testable import Common

@Suite struct KeepaliveTests {
    /// Keep-alive loss drops the worker, on a fake clock: 4.8.1 values (120 s allowed silence).
    @Test func masterDropsSilentWorkers() {
        var t = KeepaliveTracker<String>(maxSilence: 120)
        t.seen("worker1", at: 1000)
        t.seen("worker2", at: 1000)
        #expect(t.expired(at: 1060).isEmpty)
        t.seen("worker1", at: 1060)  // echo-c from worker1
        #expect(t.expired(at: 1120).isEmpty)  // exactly 120 s is still allowed
        #expect(t.expired(at: 1121) == ["worker2"])
        t.remove("worker2")
        #expect(t.expired(at: 1181) == ["worker1"])
    }

    @Test func workerDisconnectsAfterConsecutiveFailures() {
        var f = KeepaliveFailures(maxFailures: 2)
        #expect(f.failed() == .keepGoing)
        f.succeeded()
        #expect(f.failed() == .keepGoing)
        #expect(f.failed() == .disconnect)
    }
}
