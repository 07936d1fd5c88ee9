@testable import ClusterNode
import Common
import Testing

/// The framework executors' state machine without processes: queueing, timeouts, crashes, failed
/// starts, stop.
@Suite struct FrameworkPoolTests {
    typealias ID = FrameworkPool.ExecutorID
    static func job(_ f: String = "wazuh.syscollector.get_item_agent", timeout: Double? = 10) -> FrameworkPool.Job {
        .init(function: f, timeout: timeout)
    }

    /// A started pool whose executors are all ready.
    static func readyPool(_ n: Int) -> FrameworkPool {
        var pool = FrameworkPool(slots: n)
        let spawns = pool.start()
        #expect(spawns == (0..<n).map { .spawn(ID(slot: $0, generation: 1)) })
        for i in 0..<n {
            pool.spawned(ID(slot: i, generation: 1), pid: Int32(100 + i))
            _ = pool.ready(ID(slot: i, generation: 1), info: "pid \(100 + i)")
        }
        return pool
    }

    static func answers(_ d: [FrameworkPool.Directive]) -> [FrameworkPool.JobID: BridgeAnswer] {
        var out: [FrameworkPool.JobID: BridgeAnswer] = [:]
        for case .answer(let job, let a) in d { out[job] = a }
        return out
    }

    static func sends(_ d: [FrameworkPool.Directive]) -> [FrameworkPool.JobID: ID] {
        var out: [FrameworkPool.JobID: ID] = [:]
        for case .send(let job, let id) in d { out[job] = id }
        return out
    }

    static func failure(_ a: BridgeAnswer?) -> WazuhException? {
        if case .failed(let e)? = a { return e }
        return nil
    }

    @Test func requestsWaitForTheFrameworkToBeImportedThenRunOneAtATimePerExecutor() {
        var pool = FrameworkPool(slots: 1)
        _ = pool.start()
        let e = ID(slot: 0, generation: 1)
        // Before ready: queued, with its deadline armed.
        #expect(pool.submit(1, Self.job()) == [.arm(.deadline(1), after: 10)])
        #expect(pool.submit(2, Self.job(timeout: nil)).isEmpty)
        #expect(pool.queue == [1, 2])
        // Ready: the oldest goes first; the second waits for the answer.
        #expect(Self.sends(pool.ready(e, info: "x")) == [1: e])
        let d = pool.answered(e, .result(Array("{}".utf8)))
        #expect(d.contains(.cancel(.deadline(1))) && Self.answers(d) == [1: .result(Array("{}".utf8))])
        #expect(Self.sends(d) == [2: e], "the same executor takes the next request")
        #expect(pool.slots == [.busy(e, 2)])
    }

    @Test func aPoolNeverStartedStartsWithItsFirstRequest() {
        var pool = FrameworkPool(slots: 1)
        #expect(pool.submit(1, Self.job(timeout: nil)) == [.spawn(ID(slot: 0, generation: 1))])
        #expect(pool.start().isEmpty, "started once")
        #expect(Self.sends(pool.ready(ID(slot: 0, generation: 1), info: "")) == [1: ID(slot: 0, generation: 1)])
    }

    @Test func busyExecutorsQueueTheRestInArrivalOrder() {
        var pool = Self.readyPool(2)
        let (a, b) = (ID(slot: 0, generation: 1), ID(slot: 1, generation: 1))
        #expect(Self.sends(pool.submit(1, Self.job())) == [1: a])
        #expect(Self.sends(pool.submit(2, Self.job())) == [2: b])
        #expect(Self.sends(pool.submit(3, Self.job())).isEmpty)
        #expect(Self.sends(pool.submit(4, Self.job())).isEmpty)
        #expect(pool.queue == [3, 4])
        #expect(Self.sends(pool.answered(b, .result([]))) == [3: b])
        #expect(Self.sends(pool.answered(a, .result([]))) == [4: a])
        #expect(pool.queue.isEmpty)
    }

    @Test func aRequestPastItsTimeoutIs3021AndItsHungExecutorIsReplaced() {
        var pool = Self.readyPool(1)
        let e = ID(slot: 0, generation: 1)
        _ = pool.submit(1, Self.job("wazuh.standin.hang", timeout: 1))
        _ = pool.submit(2, Self.job(timeout: 1))
        // The queued one times out first: answered, nothing killed.
        let queued = pool.timerFired(.deadline(2))
        #expect(Self.answers(queued) == [2: .failed(.cluster(3021))] && !queued.contains { if case .kill = $0 { return true }; return false })
        // The running one: answered, its executor killed, and replaced once it has ended.
        let running = pool.timerFired(.deadline(1))
        #expect(Self.answers(running) == [1: .failed(.cluster(3021))])
        #expect(running.contains(.kill(e, graceful: false)))
        #expect(running.contains { if case .log(.warning, let t) = $0 { return t.contains("ran wazuh.standin.hang longer than its timeout (1 s)") }; return false })
        #expect(pool.slots == [.killed(e)])
        // Its late answer is ignored; its end starts the next generation.
        #expect(pool.answered(e, .result([])).isEmpty)
        #expect(pool.exited(e, status: "signal 9 (SIGKILL)") == [.spawn(ID(slot: 0, generation: 2))])
        // A timer of an answered request does nothing.
        #expect(pool.timerFired(.deadline(1)).isEmpty)
    }

    @Test func anExecutorThatEndsWhileRunningARequestAnswersItWithTheStatusAndIsReplaced() throws {
        var pool = Self.readyPool(1)
        let e = ID(slot: 0, generation: 1)
        _ = pool.submit(1, Self.job("wazuh.standin.die"))
        _ = pool.submit(2, Self.job())
        let d = pool.exited(e, status: "exit status 3")
        let error = try #require(Self.failure(Self.answers(d)[1]))
        #expect(error.kind == .internalError && error.code == 1000)
        #expect(error.message.contains("(pid 100) running wazuh.standin.die ended (exit status 3) before answering"))
        let next = ID(slot: 0, generation: 2)
        #expect(d.contains(.spawn(next)) && d.contains(.cancel(.deadline(1))))
        // The queued request runs on the replacement once it is ready; the old process's events are ignored.
        #expect(pool.answered(e, .result([])).isEmpty && pool.exited(e, status: "exit status 0").isEmpty)
        #expect(Self.sends(pool.ready(next, info: "pid 101")) == [2: next])
    }

    @Test func executorsThatCannotStartAreRetriedLaterAndRequestsAreToldWhy() throws {
        var pool = FrameworkPool(slots: 1)
        _ = pool.start()
        _ = pool.submit(1, Self.job())
        // The first failure: the queued request learns why at once, the next start is in 1 s, then 2, 4…
        let first = pool.exited(ID(slot: 0, generation: 1), status: "exit status 2")
        #expect(first.contains(.arm(.restart(slot: 0), after: 1)))
        let e = try #require(Self.failure(Self.answers(first)[1]))
        #expect(e.message.contains("no framework executor could start to run wazuh.syscollector.get_item_agent: the last attempt ended with exit status 2"))
        // While it waits, a request is answered at once.
        #expect(Self.failure(Self.answers(pool.submit(2, Self.job()))[2]) != nil)
        #expect(pool.timerFired(.restart(slot: 0)) == [.spawn(ID(slot: 0, generation: 2))])
        #expect(pool.exited(ID(slot: 0, generation: 2), status: "exit status 2").contains(.arm(.restart(slot: 0), after: 2)))
        _ = pool.timerFired(.restart(slot: 0))
        // A start that works again: logged at INFO, and requests run.
        let ready = pool.ready(ID(slot: 0, generation: 3), info: "pid 7")
        #expect(ready.contains { if case .log(.info, let t) = $0 { return t.contains("ready: pid 7") }; return false })
        #expect(Self.sends(pool.submit(3, Self.job())) == [3: ID(slot: 0, generation: 3)])
    }

    @Test func aBrokenFrameKillsTheExecutorAndAnswersItsRequest() throws {
        var pool = Self.readyPool(1)
        let e = ID(slot: 0, generation: 1)
        // An answer while idle is a broken executor.
        #expect(pool.answered(e, .result([])).contains(.kill(e, graceful: false)))
        #expect(pool.exited(e, status: "signal 9 (SIGKILL)") == [.spawn(ID(slot: 0, generation: 2))])
        let next = ID(slot: 0, generation: 2)
        _ = pool.ready(next, info: "")
        _ = pool.submit(1, Self.job())
        let d = pool.broken(next, "sent an answer of 999 bytes, more than the 10 allowed")
        #expect(try #require(Self.failure(Self.answers(d)[1])).message.contains("more than the 10 allowed; it was replaced"))
        // Killed before it was ever ready: its end counts as a failed start (no restart loop at full speed).
        let starting = ID(slot: 0, generation: 3)
        _ = pool.exited(next, status: "signal 9 (SIGKILL)")
        _ = pool.broken(starting, "sent a frame of unknown kind 122")
        #expect(pool.exited(starting, status: "signal 9 (SIGKILL)").contains(.arm(.restart(slot: 0), after: 1)))
    }

    @Test func stoppingAnswersWhatWaitsAndEndsEveryExecutor() {
        var pool = Self.readyPool(2)
        let (a, b) = (ID(slot: 0, generation: 1), ID(slot: 1, generation: 1))
        _ = pool.submit(1, Self.job())
        _ = pool.submit(2, Self.job(timeout: nil))
        _ = pool.submit(3, Self.job())
        let d = pool.stop()
        #expect(Set(Self.answers(d).keys) == [1, 2, 3])
        #expect(d.contains(.kill(a, graceful: true)) && d.contains(.kill(b, graceful: true)))
        #expect(!pool.allStopped)
        // Ended processes are not replaced; requests after the stop are refused.
        #expect(pool.exited(a, status: "exit status 0").isEmpty)
        #expect(pool.exited(b, status: "signal 15 (SIGTERM)").isEmpty)
        #expect(pool.allStopped)
        #expect(Self.failure(Self.answers(pool.submit(4, Self.job()))[4])?.message.contains("the node is stopping") == true)
    }
}
