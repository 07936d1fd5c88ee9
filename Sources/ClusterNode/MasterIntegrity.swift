import Common
import Foundation

/// The master's integrity state: the cached snapshot of its own files (`Local integrity`, §5.8), the
/// workers granted a check in the current cycle, and each worker's permission lock (§5.5).
actor MasterIntegrity {
    let ctx: NodeContext
    private(set) var snapshot = IntegrityMetadata()
    private var cache = HashCache()
    private var grantedThisCycle: Set<String> = []
    private var permissions: [String: IntegrityPermission] = [:]
    private var hasSnapshot = false

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
            let scan = IntegrityScanner(home: home, concurrency: threads).scan(cache: &cache)
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
        hasSnapshot = true
        grantedThisCycle.removeAll()
    }

    /// `syn_i_w_m_p`: granted at most once per cycle, and only while the worker's lock is free.
    func ask(_ worker: String) -> IntegrityPermission.Answer {
        guard hasSnapshot else { return .init(granted: false, autoReleased: false) }
        var p = permissions[worker] ?? IntegrityPermission(maxLockedTime: ctx.options.maxLockedIntegrityTime)
        let answer = p.ask(worker: worker, grantedThisCycle: &grantedThisCycle, now: Date().timeIntervalSince1970)
        permissions[worker] = p
        return answer
    }

    func lock(_ worker: String) {
        var p = permissions[worker] ?? IntegrityPermission(maxLockedTime: ctx.options.maxLockedIntegrityTime)
        p.take(now: Date().timeIntervalSince1970)
        permissions[worker] = p
    }

    func release(_ worker: String) { permissions[worker]?.release() }

    func isFree(_ worker: String) -> Bool { permissions[worker]?.isFree ?? true }

    func forget(_ worker: String) {
        permissions[worker] = nil
        grantedThisCycle.remove(worker)
    }
}
