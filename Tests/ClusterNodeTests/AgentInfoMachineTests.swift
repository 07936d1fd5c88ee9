@testable import ClusterNode
import Common
import Testing

@Suite struct AgentInfoMachineTests {
    static let yes: RequestOutcome = .success(.ok(Array("True".utf8)))

    @Test func workerRoundsWaitForTheMastersReport() {
        var m = WorkerAgentInfo(interval: 10, resultTimeout: 40)
        #expect(m.onConnected() == [.arm(.round, after: 0)])
        #expect(m.onTimer(.round, now: 0) == [.arm(.round, after: 10), .request("syn_a_w_m_p", [])])
        #expect(m.onPermission(Self.yes) == [.run(.collectAndSend)])
        #expect(m.onSent(sentChunks: 3, now: 1) == [])
        #expect(m.onTimer(.round, now: 10) == [.arm(.round, after: 10)], "no new round before syn_m_a_e")
        _ = m.onResult()
        #expect(m.onTimer(.round, now: 20).contains(.request("syn_a_w_m_p", [])))
    }

    @Test func thePhaseOffsetDelaysTheSecondRoundOnly() {
        var m = WorkerAgentInfo(interval: 10, resultTimeout: 40, phaseOffset: 7.25)
        #expect(m.onConnected() == [.arm(.round, after: 0)])
        #expect(m.onTimer(.round, now: 0) == [.arm(.round, after: 17.25), .request("syn_a_w_m_p", [])])
        _ = m.onPermission(.success(.ok(Array("False".utf8))))
        #expect(m.onTimer(.round, now: 17.25) == [.arm(.round, after: 10), .request("syn_a_w_m_p", [])])
        _ = m.onPermission(.success(.ok(Array("False".utf8))))
        #expect(m.onTimer(.round, now: 27.25).first == .arm(.round, after: 10))
    }

    @Test func aReportHandledBeforeTheSendingIsSeenToEndStillEndsTheRound() {
        var m = WorkerAgentInfo(interval: 10, resultTimeout: 40)
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(Self.yes)
        // The master's syn_m_a_e is handled while the round's task is still between the answer to
        // syn_a_w_m and onSent.
        #expect(m.onResult() == [])
        #expect(m.onSent(sentChunks: 2, now: 1) == [])
        #expect(m.phase == .idle)
        #expect(m.onTimer(.round, now: 10).contains(.request("syn_a_w_m_p", [])), "the next round asks at once, not after timeout_agent_info")
    }

    @Test func aReportThatNeverComesIsGivenUpAfterTimeoutAgentInfo() {
        var m = WorkerAgentInfo(interval: 10, resultTimeout: 40)
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(Self.yes)
        _ = m.onSent(sentChunks: 1, now: 0)
        #expect(!m.onTimer(.round, now: 30).contains(.request("syn_a_w_m_p", [])))
        let late = m.onTimer(.round, now: 50)
        #expect(late.contains(.request("syn_a_w_m_p", [])))
        #expect(late.contains { if case .log(.error, _, _) = $0 { true } else { false } })
    }

    @Test func nothingDueOrARefusalReturnsToIdle() {
        var m = WorkerAgentInfo(interval: 10, resultTimeout: 40)
        _ = m.onConnected()
        _ = m.onTimer(.round, now: 0)
        _ = m.onPermission(.success(.ok(Array("False".utf8))))
        #expect(m.phase == .idle)
        _ = m.onTimer(.round, now: 10)
        _ = m.onPermission(Self.yes)
        _ = m.onSent(sentChunks: 0, now: 10)
        #expect(m.phase == .idle)
        _ = m.onTimer(.round, now: 20)
        _ = m.onDisconnect()
        #expect(m.phase == .idle, "a disconnect mid-round resets the task for the next connection")
    }

    @Test func masterFlagIsHeldDuringAnApplyAndReleasedAfterTimeoutAgentInfo() {
        var m = MasterAgentInfo(maxBusy: 40)
        #expect(m.onPermissionRequest(now: 0).free)
        #expect(m.onChunks(stringID: "123", now: 0) == [.run(.apply(stringID: "123"))])
        #expect(!m.onPermissionRequest(now: 39).free)
        let (free, out) = m.onPermissionRequest(now: 41)
        #expect(free && out.count == 1)
        _ = m.onChunks(stringID: "124", now: 50)
        m.onApplied()
        #expect(m.onPermissionRequest(now: 51).free)
    }
}
