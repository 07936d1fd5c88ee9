import Common
import Foundation
import Synchronization
import Testing

@Suite struct ParallelLoopTests {
    final class Counts: Sendable {
        private let hits: Mutex<[Int]>
        init(_ n: Int) { hits = Mutex([Int](repeating: 0, count: n)) }
        func hit(_ i: Int) { hits.withLock { $0[i] += 1 } }
        var all: [Int] { hits.withLock { $0 } }
    }

    @Test func everyIterationRunsExactlyOnceWithHelpers() {
        let counts = Counts(1000)
        let loop = ParallelLoop.helping(helpers: 3) { job in Thread { job() }.start() }
        loop.run(1000) { i in counts.hit(i) }
        #expect(counts.all == [Int](repeating: 1, count: 1000))
    }

    @Test func aPoolThatNeverRunsTheHelpersLeavesTheCallerToDoItAll() {
        let counts = Counts(100)
        let parked = Mutex<[@Sendable () -> Void]>([])
        let loop = ParallelLoop.helping(helpers: 4) { job in parked.withLock { $0.append(job) } }
        loop.run(100) { i in counts.hit(i) }
        #expect(counts.all == [Int](repeating: 1, count: 100))
        // Helpers that start after the loop ended find it closed and do nothing.
        for job in parked.withLock({ $0 }) { job() }
        #expect(counts.all == [Int](repeating: 1, count: 100))
    }

    @Test func theInstalledLoopIsUsedByTheLibrary() {
        let used = Atomic<Int>(0)
        let counting = ParallelLoop { n, work in
            used.add(1, ordering: .relaxed)
            for i in 0..<n { work(i) }
        }
        ParallelLoop.install(counting)
        defer { ParallelLoop.install(.dispatch) }
        let counts = Counts(10)
        ParallelLoop.forEach(10) { counts.hit($0) }
        #expect(used.load(ordering: .relaxed) == 1 && counts.all == [Int](repeating: 1, count: 10))
    }
}
