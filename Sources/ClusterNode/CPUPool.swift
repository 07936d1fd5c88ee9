import Common
import NIOPosix
import Synchronization

/// The node's one pool for blocking and CPU work (DESIGN.md "One concurrency model"): hashing,
/// compression, package apply, SQLite, large Fernet operations. `process_pool_size` threads (4.8.1's
/// option, which there sizes a pool of Python processes; here every thread runs at once, no GIL).
/// Nothing else in the daemon blocks a thread: the event loops only move bytes, and Swift's cooperative
/// threads only run protocol logic.
public final class CPUPool: Sendable {
    let pool: NIOThreadPool
    public let threads: Int
    /// Jobs submitted and not yet ended (queued or running).
    private let reserved = Atomic<Int>(0)

    public init(threads: Int) {
        self.threads = max(1, threads)
        pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
    }

    /// Runs `body` on a pool thread and returns its value.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        reserved.add(1, ordering: .relaxed)
        return try await submitted(body)
    }

    /// A job whose place is already counted in `reserved`.
    private func submitted<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        defer { reserved.subtract(1, ordering: .relaxed) }
        return try await pool.runIfActive(body)
    }

    /// Runs `body` on a pool thread if one is free now, else on the calling thread. For work that must
    /// never wait behind the pool: decrypting a frame that a pool job (a package staged while it
    /// arrives) is itself waiting for would deadlock a saturated pool (with `process_pool_size` 1, the
    /// first 5 MiB `file_upd` of a 4.8.1 master).
    public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        var current = reserved.load(ordering: .relaxed)
        while current < threads {
            let (exchanged, original) = reserved.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return try await submitted(body) }
            current = original
        }
        return try body()
    }

    /// Runs `body` on a pool thread; a thrown error comes back as the result's failure.
    public func result<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
        do { return .success(try await pool.runIfActive(body)) } catch { return .failure(error) }
    }

    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }

    /// The library's parallel loops (hashing, compressing, writing and renaming files) on this pool: the
    /// calling thread plus up to `threads - 1` pool jobs (`ParallelLoop.helping`).
    public var parallelLoop: ParallelLoop {
        return ParallelLoop.helping(helpers: threads - 1) { [self] job in
            reserved.add(1, ordering: .relaxed)
            pool.submit { state in
                defer { self.reserved.subtract(1, ordering: .relaxed) }
                // A pool being shut down cancels queued jobs; the caller then does the work alone.
                if case .active = state { job() }
            }
        }
    }
}

extension Result {
    /// The failure's description, nil on success.
    var errorText: String? {
        if case .failure(let error) = self { return "\(error)" }
        return nil
    }
}

extension Result where Failure == WazuhException {
    /// The failure (callers check for success first).
    var refusal: WazuhException {
        if case .failure(let e) = self { return e }
        return .internal(1000, "no refusal")
    }
}
