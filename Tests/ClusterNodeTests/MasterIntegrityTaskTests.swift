@testable import ClusterNode
import Common
import Testing

/// The master's per-worker integrity machine: permission lock, receive timeout, zip limit.
@Suite struct MasterIntegrityTaskTests {
    static func options(maxLocked: Double = 1000) -> InternalOptions {
        var o = InternalOptions.defaults
        o.maxLockedIntegrityTime = maxLocked
        o.timeoutReceivingFile = 120
        o.maxZipSize = 100 << 20
        o.minZipSize = 10 << 20
        o.zipLimitTolerance = 0.2
        return o
    }

    @Test func noPermissionBeforeTheFirstSnapshotAndOncePerCycle() {
        var cycle = IntegrityCycle()
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        #expect(t.onPermissionRequest(cycle: &cycle, now: 0).granted == false)
        cycle.onSnapshot()
        #expect(t.onPermissionRequest(cycle: &cycle, now: 1).granted == true)
        #expect(t.onPermissionRequest(cycle: &cycle, now: 2).granted == false, "once per cycle")
        cycle.onSnapshot()
        #expect(t.onPermissionRequest(cycle: &cycle, now: 3).granted == true)
    }

    @Test func aLockHeldLongerThanMaxLockedIntegrityTimeIsReleasedWithTheWarning() {
        var cycle = IntegrityCycle()
        cycle.onSnapshot()
        var t = MasterIntegrityTask(worker: "w1", options: Self.options(maxLocked: 30))
        _ = t.onPermissionRequest(cycle: &cycle, now: 0)
        _ = t.onCheckRequested(taskID: "a", now: 0)
        #expect(!t.isFree)
        cycle.onSnapshot()
        #expect(t.onPermissionRequest(cycle: &cycle, now: 20).granted == false, "locked, within the bound")
        cycle.onSnapshot()
        let (granted, out) = t.onPermissionRequest(cycle: &cycle, now: 31)
        #expect(granted)
        #expect(out == [.log(.warning, "Main", "Automatically releasing Integrity check permissions flag (b'syn_i_w_m_p') after being locked out for more than 30s.")])
    }

    @Test func theLockIsReleasedWhenTheWorkersFileDoesNotCome() {
        var cycle = IntegrityCycle()
        cycle.onSnapshot()
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onPermissionRequest(cycle: &cycle, now: 0)
        #expect(t.onCheckRequested(taskID: "a", now: 0) == [.log(.info, "Integrity check", "Starting."), .arm(.receive("a"), after: 120)])
        let out = t.onTimer(.receive("a"))
        guard case .request("cancel_task", let payload) = out.first else { Issue.record("expected cancel_task, got \(out)"); return }
        #expect(WazuhException.parse(payload: Array(payload.drop { $0 != 0x20 }.dropFirst())) == .cluster(3039))
        #expect(t.isFree)
        #expect(t.onFileNamed(taskID: "a", path: "/p") == nil, "the late file finds no task")
        #expect(t.onTimer(.receive("a")) == [], "a timer of a finished task does nothing")
    }

    @Test func aCheckThatFindsNothingAnswersSynMCOkAndReleasesTheLock() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 10)
        #expect(t.onFileNamed(taskID: "b", path: "/p") == nil)
        let named = t.onFileNamed(taskID: "a", path: "/p")
        #expect(named?.first == .cancel(.receive("a")) && named?.last == .run(.check(taskID: "a", path: "/p")))
        #expect(!t.isFree, "locked while comparing")
        let out = t.onCompared(.success(.init(workerFiles: 12, missing: 0, shared: 0, extra: 0)), now: 10.5)
        #expect(out == [.log(.info, "Integrity check", "Finished in 0.500s. Received metadata of 12 files. Sync not required."), .request("syn_m_c_ok", [])])
        #expect(t.isFree && t.phase == .idle)
    }

    @Test func aCheckThatFindsDifferencesOffersASyncThenSendsAndNamesThePackage() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 0)
        _ = t.onFileNamed(taskID: "a", path: "/p")
        let compared = t.onCompared(.success(.init(workerFiles: 3, missing: 2, shared: 1, extra: 4)), now: 1)
        #expect(compared.last == .request("syn_m_c", []))
        #expect(compared.contains(.log(.info, "Integrity sync", "Files to create in worker: 2 | Files to update in worker: 1 | Files to delete in worker: 4")))
        #expect(t.onOffer(.success(.ok(Array("s9".utf8)))).last == .run(.sendPackage(taskID: "s9", limit: 100 << 20)))
        #expect(!t.isFree, "locked while sending")
        #expect(t.onPackageSent(taskID: "other", .success(.init(relative: "x", bytes: 1, cancelled: false, seconds: 1)), now: 2) == [])
        let sent = t.onPackageSent(taskID: "s9", .success(.init(relative: "queue/cluster/w1/p.zip", bytes: 10, cancelled: false, seconds: 1)), now: 3.25)
        #expect(sent.contains(.request("syn_m_c_e", text: "s9 queue/cluster/w1/p.zip")))
        #expect(sent.last == .log(.info, "Integrity sync", "Finished in 2.250s."))
        #expect(t.isFree)
    }

    @Test func aFailedOfferOrSendingIsWithdrawnWithSynMCR() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 0)
        _ = t.onFileNamed(taskID: "a", path: "/p")
        _ = t.onCompared(.success(.init(workerFiles: 1, missing: 1, shared: 0, extra: 0)), now: 1)
        let refused = t.onOffer(.failure(.timeout(command: "syn_m_c")))
        #expect(refused.contains { if case .request("syn_m_c_r", let p) = $0 { String(decoding: p, as: UTF8.self).hasPrefix("None {") } else { false } })
        #expect(t.isFree)
        _ = t.onCheckRequested(taskID: "b", now: 5)
        _ = t.onFileNamed(taskID: "b", path: "/p")
        _ = t.onCompared(.success(.init(workerFiles: 1, missing: 1, shared: 0, extra: 0)), now: 6)
        _ = t.onOffer(.success(.ok(Array("s1".utf8))))
        let failed = t.onPackageSent(taskID: "s1", .failure(.cluster(3034, "gone")), now: 7)
        #expect(failed.contains { if case .request("syn_m_c_r", let p) = $0 { String(decoding: p, as: UTF8.self).hasPrefix("s1 {") } else { false } })
        #expect(t.isFree)
    }

    @Test func aCheckErrorIsLoggedAndReleasesTheLock() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 0)
        _ = t.onFileNamed(taskID: "a", path: "/p")
        #expect(t.onCompared(.failure(.init("Error comparing integrity: x")), now: 1) == [.log(.error, "Integrity check", "Error comparing integrity: x")])
        #expect(t.isFree)
    }

    @Test func theWorkersErrorReleasesTheLock() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 0)
        let out = t.onWorkerError(taskID: "a", error: .cluster(3001, "x"))
        #expect(out.first == .cancel(.receive("a")))
        #expect(t.isFree && t.receiving == nil)
    }

    @Test func aCancelShrinksTheZipLimitAndFastRoundsGrowItBack() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        #expect(t.zipLimit.current == 100 << 20)
        let shrink = t.onSyncEnded(cancelled: true, sentBytes: 50 << 20, sendSeconds: 130)
        #expect(t.zipLimit.current == 40 << 20)
        #expect(shrink == [.log(.debug, "Integrity sync", "Decreasing sync size limit to 40.00 MB.")])
        #expect(t.isFree)
        let grow = t.onSyncEnded(cancelled: false, sentBytes: 40 << 20, sendSeconds: 5)
        #expect(t.zipLimit.current == 50 << 20)
        #expect(grow == [.log(.debug, "Integrity sync", "Increasing sync size limit to 50.00 MB.")])
        // ×1.25 per fast round: 62.5, 78.1, 97.7, then capped at 100 MB.
        for _ in 0..<4 { _ = t.onSyncEnded(cancelled: false, sentBytes: 1, sendSeconds: 5) }
        #expect(t.zipLimit.current == 100 << 20, "back to max_zip_size, never above")
        #expect(t.onSyncEnded(cancelled: false, sentBytes: 1, sendSeconds: 5) == [])
        // A slow round does not grow it.
        _ = t.onSyncEnded(cancelled: true, sentBytes: 20 << 20, sendSeconds: 130)
        #expect(t.zipLimit.current == 16 << 20)
        #expect(t.onSyncEnded(cancelled: false, sentBytes: 1, sendSeconds: 100) == [])
    }

    @Test func aDisconnectFreesEverything() {
        var t = MasterIntegrityTask(worker: "w1", options: Self.options())
        _ = t.onCheckRequested(taskID: "a", now: 0)
        #expect(t.onDisconnect() == [.cancel(.receive("a"))])
        #expect(t.isFree && t.receiving == nil)
    }
}
