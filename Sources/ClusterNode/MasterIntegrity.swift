import Common
import Foundation

/// The master's integrity state: the cached snapshot of its own files (`Local integrity`, §5.8), the
/// cycle of grants, and each worker's integrity machine (`MasterIntegrityTask`: permission lock, receive
/// task, zip limit; §5.5, §5.6).
actor MasterIntegrity {
    let ctx: NodeContext
    private(set) var snapshot = IntegrityMetadata()
    private var cache = HashCache()
    /// Each connected worker's integrity machine, owned by its current session, and the cycle of grants.
    private var table: MasterIntegrityTable

    init(ctx: NodeContext) {
        self.ctx = ctx
        table = MasterIntegrityTable(options: ctx.options)
    }

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
            MemoryTuning.releaseFreeMemory()
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
        table.onSnapshot()
    }

    typealias Output = MasterIntegrityTask.Output
    typealias Session = MasterIntegrityTable.Session

    /// Runs one event of `session` on `worker`'s machine; nil (and a DEBUG line, the observable of this
    /// rule) when the session no longer owns it: a late event of a replaced or closed connection.
    private func with<R>(_ worker: String, _ session: Session, _ what: String,
                         _ event: (inout MasterIntegrityTask, inout IntegrityCycle) -> R) -> R? {
        if let result = table.run(worker, session: session, event) { return result }
        ctx.log.debug(tag: "Worker \(worker)", subtag: "Integrity check",
                      "Ignored \(what) of a closed or replaced connection of \(worker) (session \(session)): it no longer owns the worker's integrity task.")
        return nil
    }

    /// The session's `hello` as `worker` was accepted: it owns a fresh integrity task.
    func adopt(_ worker: String, session: Session) { table.adopt(worker, session: session) }

    /// `syn_i_w_m_p`: never granted to a session that no longer owns the worker's task.
    func permission(_ worker: String, session: Session, now: Double) -> (Bool, [Output]) {
        with(worker, session, "a permission request") { t, cycle in t.onPermissionRequest(cycle: &cycle, now: now) } ?? (false, [])
    }

    func checkRequested(_ worker: String, session: Session, taskID: String, now: Double) -> [Output] {
        with(worker, session, "a check request") { t, _ in t.onCheckRequested(taskID: taskID, now: now) } ?? []
    }

    func fileNamed(_ worker: String, session: Session, taskID: String, path: String) -> [Output]? {
        with(worker, session, "a metadata file") { t, _ in t.onFileNamed(taskID: taskID, path: path) } ?? nil
    }

    func workerError(_ worker: String, session: Session, taskID: String, error: WazuhException) -> [Output] {
        with(worker, session, "an error report") { t, _ in t.onWorkerError(taskID: taskID, error: error) } ?? []
    }

    func timer(_ worker: String, session: Session, _ timer: MasterIntegrityTask.Timer) -> [Output] {
        with(worker, session, "a receive timeout") { t, _ in t.onTimer(timer) } ?? []
    }

    func compared(_ worker: String, session: Session, _ result: Result<MasterIntegrityTask.Comparison, MasterIntegrityTask.CheckFailure>, now: Double) -> [Output] {
        with(worker, session, "a comparison") { t, _ in t.onCompared(result, now: now) } ?? []
    }

    func offered(_ worker: String, session: Session, _ outcome: RequestOutcome) -> [Output] {
        with(worker, session, "an answer to syn_m_c") { t, _ in t.onOffer(outcome) } ?? []
    }

    func packageSent(_ worker: String, session: Session, taskID: String, _ result: Result<MasterIntegrityTask.Sent, WazuhException>, now: Double) -> [Output] {
        with(worker, session, "a package sent") { t, _ in t.onPackageSent(taskID: taskID, result, now: now) } ?? []
    }

    func isFree(_ worker: String) -> Bool { table.machine(worker)?.isFree ?? true }

    /// The session's connection closed: the task it owns ends, and the worker's next session starts from
    /// scratch. A session replaced by a newer one owns nothing any more and changes nothing.
    func release(_ worker: String, session: Session) -> [Output] {
        table.release(worker, session: session)
    }
}
