import Common
import Foundation

/// The master's integrity state: the cached snapshot of its own files (`Local integrity`, §5.8), the
/// cycle of grants, and each worker's integrity machine (`MasterIntegrityTask`: permission lock, receive
/// task, zip limit; §5.5, §5.6).
actor MasterIntegrity {
    let ctx: NodeContext
    private(set) var snapshot = IntegrityMetadata()
    private var cache = HashCache()
    private var cycle = IntegrityCycle()
    /// Each connected worker's integrity machine.
    private var tasks: [String: MasterIntegrityTask] = [:]

    init(ctx: NodeContext) { self.ctx = ctx }

    func run() async throws {
        while !Task.isCancelled {
            await recalculate()
            try await Task.sleep(nanoseconds: UInt64(ctx.options.recalculateIntegrity * 1e9))
        }
    }

    /// One `Local integrity` round: rescans (unchanged files come from the cache) and opens a new cycle.
    /// The scan runs on the CPU pool, outside this actor: permission requests and health queries are
    /// answered from the previous snapshot meanwhile (4.8.1 and earlier clusterd made them wait).
    nonisolated func recalculate() async {
        let start = Date()
        let log = ctx.log
        log.info(tag: "Master", subtag: "Local integrity", "Starting.")
        let (home, threads, cache) = (ctx.home, ctx.pool.threads, await self.cache)
        let outcome = await ctx.pool.result { () -> (IntegrityScan, HashCache) in
            var cache = cache
            let scan = IntegrityScanner(home: home, items: .clusterd, concurrency: threads).scan(cache: &cache)
            return (scan, cache)
        }
        guard case .success(let (scan, newCache)) = outcome else { return }  // the pool is shutting down
        for issue in scan.issues {
            log.error(tag: "Master", subtag: "Local integrity", "Can't read metadata from file \(issue)")
        }
        await install(scan.metadata, cache: newCache)
        log.info(tag: "Master", subtag: "Local integrity", "Finished in \(elapsed(since: start)). Calculated metadata of \(scan.metadata.count) files.")
    }

    private func install(_ metadata: IntegrityMetadata, cache: HashCache) {
        snapshot = metadata
        self.cache = cache
        cycle.onSnapshot()
    }

    private func task(_ worker: String) -> MasterIntegrityTask {
        tasks[worker] ?? MasterIntegrityTask(worker: worker, options: ctx.options)
    }

    /// Runs one event on `worker`'s machine and keeps its new state.
    private func with<R>(_ worker: String, _ event: (inout MasterIntegrityTask) -> R) -> R {
        var t = task(worker)
        defer { tasks[worker] = t }
        return event(&t)
    }

    typealias Output = MasterIntegrityTask.Output

    /// `syn_i_w_m_p`.
    func permission(_ worker: String, now: Double) -> (Bool, [Output]) {
        with(worker) { $0.onPermissionRequest(cycle: &cycle, now: now) }
    }

    func checkRequested(_ worker: String, taskID: String, now: Double) -> [Output] {
        with(worker) { $0.onCheckRequested(taskID: taskID, now: now) }
    }

    func fileNamed(_ worker: String, taskID: String, path: String) -> [Output]? {
        with(worker) { $0.onFileNamed(taskID: taskID, path: path) }
    }

    func workerError(_ worker: String, taskID: String, error: WazuhException) -> [Output] {
        with(worker) { $0.onWorkerError(taskID: taskID, error: error) }
    }

    func timer(_ worker: String, _ timer: MasterIntegrityTask.Timer) -> [Output] {
        with(worker) { $0.onTimer(timer) }
    }

    func compared(_ worker: String, _ result: Result<MasterIntegrityTask.Comparison, MasterIntegrityTask.CheckFailure>, now: Double) -> [Output] {
        with(worker) { $0.onCompared(result, now: now) }
    }

    func offered(_ worker: String, _ outcome: RequestOutcome) -> [Output] {
        with(worker) { $0.onOffer(outcome) }
    }

    func packageSent(_ worker: String, taskID: String, _ result: Result<MasterIntegrityTask.Sent, WazuhException>, now: Double) -> [Output] {
        with(worker) { $0.onPackageSent(taskID: taskID, result, now: now) }
    }

    func zipLimit(_ worker: String) -> Int { task(worker).zipLimit.current }

    func isFree(_ worker: String) -> Bool { tasks[worker]?.isFree ?? true }

    /// The worker's connection closed: its machine ends, and a new session starts from scratch.
    func forget(_ worker: String) -> [Output] {
        let out = tasks[worker].map { t -> [Output] in var t = t; return t.onDisconnect() } ?? []
        tasks[worker] = nil
        cycle.grantedThisCycle.remove(worker)
        return out
    }
}
