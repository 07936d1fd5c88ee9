@testable import ClusterNode
import Common
import Testing

/// The master's table of integrity machines: each owned by the worker's current session, so that an
/// earlier session of the same worker (half-open and replaced, or closed with work still ending) can
/// neither take the new session's lock nor end its check.
@Suite struct MasterIntegrityTableTests {
    static func table() -> MasterIntegrityTable {
        var t = MasterIntegrityTable(options: MasterIntegrityTaskTests.options())
        t.onSnapshot()
        return t
    }

    static func granted(_ t: inout MasterIntegrityTable, _ session: UInt64, now: Double) -> Bool? {
        t.run("w1", session: session) { m, cycle in m.onPermissionRequest(cycle: &cycle, now: now).granted }
    }

    @Test func aReplacedSessionsLateCheckRequestDoesNotLockTheNewSessionOut() {
        var t = Self.table()
        t.adopt("w1", session: 1)
        // The new connection of the same worker replaces the half-open one, then the old session's
        // `syn_i_w_m` handler, still running, asks for a check.
        t.adopt("w1", session: 2)
        #expect(t.run("w1", session: 1) { m, _ in m.onCheckRequested(taskID: "old", now: 0) } == nil)
        #expect(t.machine("w1")?.isFree == true, "the lock is not taken")
        #expect(Self.granted(&t, 2, now: 1) == true, "the new session is granted")
    }

    @Test func aReplacedSessionsLateComparisonDoesNotEndTheNewSessionsCheck() {
        var t = Self.table()
        t.adopt("w1", session: 1)
        _ = t.run("w1", session: 1) { m, _ in m.onCheckRequested(taskID: "a", now: 0) }
        _ = t.run("w1", session: 1) { m, _ in m.onFileNamed(taskID: "a", path: "/old") }
        t.adopt("w1", session: 2)
        #expect(t.machine("w1")?.isFree == true, "the old session's lock went with its machine")
        _ = t.run("w1", session: 2) { m, _ in m.onCheckRequested(taskID: "b", now: 1) }
        _ = t.run("w1", session: 2) { m, _ in m.onFileNamed(taskID: "b", path: "/new") }
        // The old comparison ends now: it must not answer the new session's check.
        let late = t.run("w1", session: 1) { m, _ in m.onCompared(.success(.init(workerFiles: 1, missing: 1, shared: 0, extra: 0)), now: 2) }
        #expect(late == nil)
        #expect(t.machine("w1")?.phase == .checking && t.machine("w1")?.isFree == false, "the new check goes on")
        let own = t.run("w1", session: 2) { m, _ in m.onCompared(.success(.init(workerFiles: 1, missing: 0, shared: 0, extra: 0)), now: 3) }
        #expect(own?.last == .request("syn_m_c_ok", []))
        #expect(t.machine("w1")?.isFree == true)
    }

    @Test func anEndedSessionReleasesOnlyWhatItOwns() {
        var t = Self.table()
        t.adopt("w1", session: 1)
        t.adopt("w1", session: 2)
        _ = t.run("w1", session: 2) { m, _ in m.onCheckRequested(taskID: "b", now: 0) }
        // The replaced session's connection closes after the new one took over.
        #expect(t.release("w1", session: 1) == [])
        #expect(t.machine("w1")?.receiving == "b", "the new session's check is untouched")
        #expect(t.release("w1", session: 2) == [.cancel(.receive("b"))])
        #expect(t.workers.isEmpty)
    }

    @Test func eventsAfterTheSessionEndedCreateNoMachine() {
        var t = Self.table()
        t.adopt("w1", session: 1)
        _ = t.release("w1", session: 1)
        // Work of the closed session that ends late (its package sent, its receive timer).
        #expect(t.run("w1", session: 1) { m, _ in m.onCheckRequested(taskID: "late", now: 5) } == nil)
        #expect(t.run("w1", session: 1) { m, _ in m.onTimer(.receive("late")) } == nil)
        #expect(t.workers.isEmpty)
        #expect(Self.granted(&t, 1, now: 6) == nil, "nothing is granted to a session that owns nothing")
    }

    @Test func aNewSessionMayBeGrantedInTheCycleItsPredecessorWasGranted() {
        var t = Self.table()
        t.adopt("w1", session: 1)
        #expect(Self.granted(&t, 1, now: 0) == true)
        #expect(Self.granted(&t, 1, now: 1) == false, "once per cycle")
        t.adopt("w1", session: 2)
        #expect(Self.granted(&t, 2, now: 2) == true, "the reconnected worker does not wait for the next cycle")
    }
}
