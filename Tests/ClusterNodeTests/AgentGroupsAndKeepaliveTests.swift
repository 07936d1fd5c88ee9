@testable import ClusterNode
import Common
import Testing

@Suite struct WorkerAgentGroupsTests {
    static func requests(_ out: [WorkerAgentGroups.Output]) -> [String] {
        out.compactMap { if case .request(let c, _) = $0 { return c } else { return nil } }
    }

    @Test func tenMismatchesLeadToExactlyOneFullResyncRequest() {
        var m = WorkerAgentGroups(mismatchLimit: 10, fullResyncTimeout: 40)
        var sent: [String] = []
        for i in 0..<10 {
            let out = m.onRoundApplied(masterHash: "m\(i)", localHash: "w")
            sent += Self.requests(out)
            if i < 9 { #expect(m.mismatches == i + 1) }
        }
        #expect(sent == ["syn_w_g_c"])
        #expect(m.awaitingFullResync)
        // The master is slow to send everything: mismatches meanwhile ask for nothing more.
        for i in 0..<25 { sent += Self.requests(m.onRoundApplied(masterHash: "x\(i)", localHash: "w")) }
        #expect(sent == ["syn_w_g_c"])
        #expect(m.onFullResyncReceived() == [.cancel(.fullResync)])
        #expect(!m.awaitingFullResync && m.mismatches == 0)
    }

    @Test func aMatchResetsTheCounter() {
        var m = WorkerAgentGroups(mismatchLimit: 3, fullResyncTimeout: 40)
        _ = m.onRoundApplied(masterHash: "a", localHash: "b")
        _ = m.onRoundApplied(masterHash: "a", localHash: "b")
        #expect(m.onRoundApplied(masterHash: "a", localHash: "a") == [.log(.debug, "Agent-groups recv", "The checksum of both databases match. Counter reset.")])
        #expect(m.mismatches == 0)
        #expect(Self.requests(m.onRoundApplied(masterHash: "a", localHash: "b")) == [])
    }

    @Test func aFullResyncThatNeverComesIsAskedAgainAfterTimeoutAgentGroups() {
        var m = WorkerAgentGroups(mismatchLimit: 2, fullResyncTimeout: 40)
        _ = m.onRoundApplied(masterHash: "a", localHash: "b")
        let out = m.onRoundApplied(masterHash: "a", localHash: "b")
        #expect(out.contains(.arm(.fullResync, after: 40)))
        #expect(m.onTimer(.fullResync).count == 1)
        #expect(!m.awaitingFullResync)
        _ = m.onRoundApplied(masterHash: "a", localHash: "b")
        #expect(Self.requests(m.onRoundApplied(masterHash: "a", localHash: "b")) == ["syn_w_g_c"])
    }

    @Test func theCounterDoesNotSurviveADisconnect() {
        var m = WorkerAgentGroups(mismatchLimit: 5, fullResyncTimeout: 40)
        _ = m.onRoundApplied(masterHash: "a", localHash: nil)
        _ = m.onDisconnect()
        #expect(m.mismatches == 0 && !m.awaitingFullResync)
    }
}

@Suite struct KeepaliveMachineTests {
    static let okM: RequestOutcome = .success(.other(command: "ok-m", payload: Array("keepalive".utf8)))

    @Test func workerKeepsGoingWhileTheMasterAnswers() {
        var k = WorkerKeepalive(interval: 60, maxFailures: 2)
        #expect(k.onConnected() == [.arm(.next, after: 60)])
        #expect(k.onTimer(.next) == [.request("echo-c", text: "keepalive")])
        #expect(k.onResponse(Self.okM) == [.log(.info, "Keep Alive", "Successful response from master: keepalive"), .arm(.next, after: 60)])
    }

    @Test func workerClosesAfterMaxFailedAttemptsInARowAndASuccessResetsTheCount() {
        var k = WorkerKeepalive(interval: 1, maxFailures: 2)
        _ = k.onConnected()
        let first = k.onResponse(.failure(.timeout(command: "echo-c")))
        #expect(first == [.log(.error, "Keep Alive", "Error sending keep alive: Error 3020 - Timeout sending request: echo-c"), .arm(.next, after: 1)])
        _ = k.onResponse(Self.okM)
        #expect(!k.onResponse(.failure(.closed)).contains { if case .close = $0 { true } else { false } })
        let second = k.onResponse(.success(.err(.cluster(3000, "x"))))
        #expect(second.last == .close("Maximum number of failed keep alives reached"))
        #expect(second.contains(.log(.error, "Keep Alive", "Maximum number of failed keep alives reached. Disconnecting.")))
    }

    @Test func masterDisconnectsOnlyWorkersSilentForTooLong() {
        var m = MasterKeepalive(maxSilence: 120)
        m.onHeard("w1", now: 0)
        m.onHeard("w2", now: 100)
        #expect(m.onCheck(now: 110).isEmpty)
        let expired = m.onCheck(now: 121)
        #expect(expired.map(\.worker) == ["w1"])
        #expect(expired.first?.directives.first == .log(.error, "Keep alive", "No keep alives have been received from w1 in the last minute. Disconnecting"))
        m.onGone("w1")
        #expect(m.onCheck(now: 200).isEmpty)
        #expect(m.onCheck(now: 221).map(\.worker) == ["w2"])
    }
}

@Suite struct HelloAdmissionTests {
    static func hello(_ text: String) -> HelloAdmission { try! HelloAdmission.parse(Array(text.utf8)).get() }

    @Test func checksInOrder() {
        #expect(HelloAdmission.parse(Array("w1 wazuh".utf8)) == .failure(.internal(1000, "not enough values to unpack (expected 4, got 2)")))
        #expect(Self.hello("w.1 wazuh worker 4.8.1").decide(nameTaken: true, masterName: "m") == .reject(.cluster(3060, "w.1")))
        #expect(Self.hello("m wazuh worker 4.8.1").decide(nameTaken: false, masterName: "m") == .reject(.cluster(3029)))
        let h = Self.hello("w1 other worker 4.8.0")
        #expect(h.decide(nameTaken: false, masterName: "m") == .register)
        #expect(h.afterRegistering(clusterName: "wazuh", masterVersion: "4.8.1") == .cluster(3030))
        #expect(Self.hello("w1 wazuh worker 4.8.0").afterRegistering(clusterName: "wazuh", masterVersion: "4.8.1") == .cluster(3031))
    }

    @Test func aHalfOpenSessionIsReplacedByTheSameWorker() {
        let h = Self.hello("w1 wazuh worker 4.8.1")
        #expect(h.decide(nameTaken: true, masterName: "m") == .probeHolder)
        #expect(h.onProbe(holderAnswered: false, masterName: "m") == .register)
        #expect(h.onProbe(holderAnswered: true, masterName: "m") == .reject(.cluster(3028, "w1")))
    }

    @Test func theProbeEndsBeforeTheNewHelloTimesOut() {
        #expect(HelloAdmission.probeTimeout(requestTimeout: 20) == 3, "4.8.1's default request timeout: the 3 s ceiling")
        #expect(HelloAdmission.probeTimeout(requestTimeout: 3) == 1.5)
        #expect(HelloAdmission.probeTimeout(requestTimeout: 2) == 1)
    }
}

@Suite struct MasterAgentGroupsTests {
    @Test func waitsTheStartDelayThenSendsChangesToTheConnectedWorkers() {
        var m = MasterAgentGroups(startDelay: 30, interval: 10)
        #expect(m.onStart().last == .arm(.round, after: 30))
        let idle = m.onTimer(.round, connectedWorkers: [], now: 30)
        #expect(idle == [.log(.info, "Local agent-groups", "Starting."), .log(.info, "Local agent-groups", "No clients connected. Skipping."), .arm(.round, after: 10)])
        #expect(m.onTimer(.round, connectedWorkers: ["w1", "w2"], now: 40).last == .run(.collect))
        let (sendTo, out) = m.onCollected(.success(3), connectedWorkers: ["w1", "w2"], now: 40.25)
        #expect(sendTo == ["w1", "w2"])
        #expect(out == [.log(.debug, "Local agent-groups", "Obtained 3 chunks of data in 0.250s."), .log(.info, "Local agent-groups", "Finished in 0.250s."), .arm(.round, after: 10)])
    }

    @Test func nothingChangedOrAReadErrorSendsNothing() {
        var m = MasterAgentGroups(startDelay: 0, interval: 10)
        _ = m.onTimer(.round, connectedWorkers: ["w1"], now: 0)
        #expect(m.onCollected(.success(0), connectedWorkers: ["w1"], now: 0).sendTo.isEmpty)
        _ = m.onTimer(.round, connectedWorkers: ["w1"], now: 10)
        let failed = m.onCollected(.failure(.init("disk I/O error")), connectedWorkers: ["w1"], now: 10)
        #expect(failed.sendTo.isEmpty)
        #expect(failed.directives == [.log(.error, "Local agent-groups", "Error getting agent-groups from WDB: disk I/O error"), .arm(.round, after: 10)])
    }
}
