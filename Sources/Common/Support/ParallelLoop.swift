import Dispatch
import Synchronization

/// How the CPU-parallel loops of the library run (hashing files, compressing entries, writing and
/// renaming a package's files): `iterations` calls of `work`, in any order, all done when `run` returns.
///
/// The tools use GCD's `concurrentPerform`. The daemon installs its CPU pool at start
/// (`ParallelLoop.install`), so that its blocking and CPU work all runs on one pool of
/// `process_pool_size` threads (DESIGN.md "One concurrency model") instead of GCD's own threads.
public struct ParallelLoop: Sendable {
    /// Runs `work(0..<iterations)`; returns when every call has returned.
    public let run: @Sendable (_ iterations: Int, _ work: @escaping @Sendable (Int) -> Void) -> Void

    public init(_ run: @escaping @Sendable (_ iterations: Int, _ work: @escaping @Sendable (Int) -> Void) -> Void) {
        self.run = run
    }

    public static let dispatch = ParallelLoop { n, work in DispatchQueue.concurrentPerform(iterations: n, execute: work) }

    private static let installed = Mutex<ParallelLoop>(.dispatch)

    /// The loop the library uses from now on (the daemon's pool); `dispatch` until then.
    public static func install(_ loop: ParallelLoop) { installed.withLock { $0 = loop } }

    public static var current: ParallelLoop { installed.withLock { $0 } }

    /// `work(0..<iterations)` on the installed loop.
    public static func forEach(_ iterations: Int, _ work: @escaping @Sendable (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { work(0) }
            return
        }
        current.run(iterations, work)
    }

    /// A loop over a pool of threads that takes jobs: the calling thread works too, and up to `helpers`
    /// jobs are submitted to help it. The caller waits only for helpers that have started; one that
    /// starts after the work is all taken returns at once. So a caller that is itself a pool thread never
    /// waits for a job queued behind it, and loops on a busy pool cannot deadlock: at worst the caller
    /// does all the work alone.
    public static func helping(helpers: Int, submit: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) -> ParallelLoop {
        ParallelLoop { n, work in
            let state = HelpedLoop(iterations: n)
            for _ in 0..<min(helpers, n - 1) {
                submit {
                    guard state.enter() else { return }
                    state.drain(work)
                    state.leave()
                }
            }
            state.drain(work)
            state.close()
        }
    }
}

/// The shared state of one `helping` loop.
private final class HelpedLoop: Sendable {
    let iterations: Int
    private let next = Atomic<Int>(0)
    private let state = Mutex<(running: Int, closed: Bool)>((0, false))
    private let done = DispatchSemaphore(value: 0)

    init(iterations: Int) { self.iterations = iterations }

    func drain(_ work: @Sendable (Int) -> Void) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= iterations { return }
            work(i)
        }
    }

    /// A helper starts: false when the caller already finished (nothing left to help with).
    func enter() -> Bool {
        state.withLock { s in
            if s.closed { return false }
            s.running += 1
            return true
        }
    }

    func leave() {
        let last = state.withLock { s -> Bool in
            s.running -= 1
            return s.closed && s.running == 0
        }
        if last { done.signal() }
    }

    /// The caller ran out of work: waits for the helpers still running.
    func close() {
        let wait = state.withLock { s -> Bool in
            s.closed = true
            return s.running > 0
        }
        if wait { done.wait() }
    }
}
