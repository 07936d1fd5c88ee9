@testable import ClusterNode
import Common
import Testing

/// The worker's integrity machine driven without sockets: events in, directives out.
@Suite struct WorkerIntegrityTests {
    static func machine() -> WorkerIntegrity { WorkerIntegrity(interval: 9, receiveTimeout: 120) }
    static let granted: RequestOutcome = .success(.ok(Array("True".utf8)))
    static func requests(_ out: [WorkerIntegrity.Output]) -> [String] {
        out.compactMap { if case .request(let c, _) = $0 { return c } else { return nil } }
    }

    /// Runs a round up to the point where the master has the metadata.
    static func roundSent(_ m: inout WorkerIntegrity, taskID: String = "t1", now: Double = 100) {
        _ = m.onConnected()
        #expect(requests(m.onTimer(.round, now: now)) == ["syn_i_w_m_p"])
        #expect(m.onPermission(granted, now: now).contains(.run(.scanAndPack)))
        #expect(requests(m.onPackaged(nil)) == ["syn_i_w_m"])
        #expect(m.onOffer(.success(.ok(Array(taskID.utf8)))) == [.run(.sendMetadata(taskID: taskID))])
        #expect(m.onMetadataSent(taskID: taskID, error: nil, now: now + 1) == [])
    }

    @Test func firstRoundRightAfterHelloThenEveryInterval() {
        var m = Self.machine()
        #expect(m.onConnected() == [.arm(.round, after: 0)])
        let out = m.onTimer(.round, now: 0)
        #expect(out.first == .arm(.round, after: 9))
        #expect(Self.requests(out) == ["syn_i_w_m_p"])
        // While asking, the next tick does not ask again.
        #expect(Self.requests(m.onTimer(.round, now: 9)) == [])
    }

    @Test func thePhaseOffsetDelaysTheSecondRoundOnlyAndKeepsTheRoundsAfterIt() {
        var m = WorkerIntegrity(interval: 9, receiveTimeout: 120, phaseOffset: 4.5)
        #expect(m.onConnected() == [.arm(.round, after: 0)], "the first round still runs right after hello")
        #expect(m.onTimer(.round, now: 0).first == .arm(.round, after: 13.5))
        #expect(m.onTimer(.round, now: 13.5).first == .arm(.round, after: 9))
        #expect(m.onTimer(.round, now: 22.5).first == .arm(.round, after: 9))
    }

    @Test func permissionRefusedReturnsToIdleWithTheDebugLine() {
        var m = Self.machine()
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        let out = m.onPermission(.success(.ok(Array("False".utf8))), now: 0)
        #expect(out == [.log(.debug, "Integrity check", "Master didn't grant permission to start a new synchronization: b'False'")])
        #expect(m.isFree)
    }

    @Test func aTaskWedgedByAMasterOutageResetsOnReconnect() {
        var m = Self.machine()
        Self.roundSent(&m)
        // The master answered syn_m_c, then went away before naming its package.
        let offered = m.onSyncOffered(taskID: "s1", now: 102)
        #expect(offered.contains(.arm(.receive("s1"), after: 120)))
        #expect(!m.isFree)
        #expect(Self.requests(m.onTimer(.round, now: 111)) == [], "busy: no new round while the sync is pending")
        let closed = m.onDisconnect()
        #expect(closed.contains(.cancel(.receive("s1"))))
        #expect(m.isFree)
        // The next connection starts a round at once.
        #expect(m.onConnected() == [.arm(.round, after: 0)])
        #expect(Self.requests(m.onTimer(.round, now: 130)) == ["syn_i_w_m_p"])
    }

    @Test func aVerdictThatDoesNotComeWithinAnIntervalIsNotWaitedFor() {
        var m = Self.machine()
        Self.roundSent(&m, now: 100)
        #expect(Self.requests(m.onTimer(.round, now: 105)) == [], "still waiting within the interval")
        let late = m.onTimer(.round, now: 110)
        #expect(Self.requests(late) == ["syn_i_w_m_p"])
        #expect(late.contains { if case .log(.debug, "Integrity check", let t) = $0 { t.hasPrefix("No verdict from the master") } else { false } })
    }

    @Test func aVerdictSeenBeforeTheAnswerToSynIWMEStillEndsTheRound() {
        var m = Self.machine()
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(Self.granted, now: 0)
        _ = m.onPackaged(nil)
        _ = m.onOffer(.success(.ok(Array("t1".utf8))))
        // syn_m_c_ok is handled before the job saw the reply to syn_i_w_m_e.
        _ = m.onSyncNotRequired(now: 1)
        #expect(m.isFree)
        #expect(m.onMetadataSent(taskID: "t1", error: nil, now: 1) == [])
        #expect(m.isFree, "the late end of the job does not make the task wait for a verdict already given")
    }

    @Test func aSyncOfferedBeforeTheTaskStartedIsKept() {
        // The master's syn_m_c can be handled before the session starts its tasks after hello.
        var m = Self.machine()
        _ = m.onSyncOffered(taskID: "s1", now: 0)
        #expect(m.onConnected() == [.arm(.round, after: 0)])
        #expect(m.phase == .receiving("s1"))
        #expect(m.onPackageNamed(taskID: "s1", path: "/p", now: 1) != nil)
    }

    @Test func aSyncOfferedWhileANewRoundIsPreparedWins() {
        var m = Self.machine()
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(Self.granted, now: 0)
        _ = m.onSyncOffered(taskID: "s1", now: 1)
        #expect(m.onPackaged(nil) == [], "the round's package is not offered")
        #expect(m.phase == .receiving("s1"))
    }

    @Test func aPackageNotNamedInTimeIsCancelledWith3039() {
        var m = Self.machine()
        Self.roundSent(&m)
        _ = m.onSyncOffered(taskID: "s1", now: 102)
        let out = m.onTimer(.receive("s1"), now: 222)
        #expect(Self.requests(out) == ["cancel_task", "syn_i_w_m_r"])
        guard case .request(_, let payload) = out[0] else { Issue.record("no cancel_task"); return }
        #expect(String(decoding: payload, as: UTF8.self).hasPrefix("s1 {"))
        #expect(m.isFree)
        #expect(m.onPackageNamed(taskID: "s1", path: "/x", now: 223) == nil, "a late syn_m_c_e finds no task (3027)")
    }

    @Test func theNamedPackageIsAppliedAndTheTaskFreed() {
        var m = Self.machine()
        Self.roundSent(&m)
        _ = m.onSyncOffered(taskID: "s1", now: 102)
        #expect(m.onPackageNamed(taskID: "other", path: "/p", now: 103) == nil)
        let named = m.onPackageNamed(taskID: "s1", path: "/p", now: 103)
        #expect(named == [.cancel(.receive("s1")), .log(.info, "Integrity sync", "Starting."), .run(.apply(taskID: "s1", path: "/p"))])
        #expect(m.onApplied(taskID: "s1", error: nil, now: 104.5) == [.log(.info, "Integrity sync", "Finished in 1.500s.")])
        #expect(m.isFree)
    }

    @Test func failuresReportSynIWMRAndFreeTheTask() {
        var m = Self.machine()
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(Self.granted, now: 0)
        let failed = m.onPackaged(.cluster(3001, "disk full"))
        #expect(Self.requests(failed) == ["syn_i_w_m_r"])
        #expect(m.isFree)
        _ = m.onTimer(.round, now: 9)
        _ = m.onPermission(.failure(.timeout(command: "syn_i_w_m_p")), now: 9)
        #expect(m.isFree)
    }

    @Test func syncNotRequiredLogsTheCheckTime() {
        var m = Self.machine()
        Self.roundSent(&m, now: 100)
        #expect(m.onSyncNotRequired(now: 100.25) == [.log(.info, "Integrity check", "Finished in 0.250s. Sync not required.")])
        #expect(m.isFree)
    }
}
