import Common
import Foundation
import NIOCore

/// One connection of a worker to its master, with all per-connection state (reset on reconnect, as in
/// 4.8.1): the integrity hash cache, the integrity and agent-groups machines, the master's formats. The
/// session is the shell of those machines: it feeds them the master's messages, the outcomes of its own
/// requests and jobs, and its timers, and runs what they decide.
actor WorkerSession {
    let ctx: NodeContext
    let link: PeerLink
    private var cache = HashCache()
    /// The master announced zip packages in its `hello` reply (our master); a Wazuh master did not.
    private(set) var masterSupportsZip = false
    var agentInfoStart = Date()

    private var integrity: WorkerIntegrity
    private var integrityShell: DirectiveShell<WorkerIntegrity.Job, WorkerIntegrity.Timer>!
    private var integrityTimers: ShellTimers<WorkerIntegrity.Timer>
    /// The metadata package of the round in progress.
    private var metadataPackage: String?
    var agentInfo: WorkerAgentInfo
    var agentInfoShell: DirectiveShell<WorkerAgentInfo.Job, WorkerAgentInfo.Timer>!
    private var agentInfoTimers: ShellTimers<WorkerAgentInfo.Timer>
    var agentGroups: WorkerAgentGroups
    var agentGroupsShell: DirectiveShell<NoJob, WorkerAgentGroups.Timer>!
    private var agentGroupsTimers: ShellTimers<WorkerAgentGroups.Timer>

    let store: any AgentBackend
    let clients: LocalClients
    nonisolated let dapi: DapiNode
    /// The master's package, unpacked while it arrives; the link tells it of each file it starts receiving.
    nonisolated let prefetch: PackagePrefetch

    init(ctx: NodeContext, link: PeerLink, store: any AgentBackend, clients: LocalClients, dapi: DapiNode, prefetch: PackagePrefetch, eventLoop: any EventLoop) {
        self.ctx = ctx
        self.link = link
        self.store = store
        self.clients = clients
        self.dapi = dapi
        self.prefetch = prefetch
        let o = ctx.options
        // Each task's rounds keep the phase they get here: a random one, so that workers connecting together
        // do not all reach the master in the same second of every interval.
        integrity = WorkerIntegrity(interval: o.syncIntegrity, receiveTimeout: o.timeoutReceivingFile,
                                    phaseOffset: .random(in: 0..<max(o.syncIntegrity, .leastNonzeroMagnitude)))
        integrityTimers = ShellTimers(eventLoop: eventLoop, tasks: link.tasks)
        agentInfo = WorkerAgentInfo(interval: o.syncAgentInfo, resultTimeout: o.timeoutAgentInfo,
                                    phaseOffset: .random(in: 0..<max(o.syncAgentInfo, .leastNonzeroMagnitude)))
        agentInfoTimers = ShellTimers(eventLoop: eventLoop, tasks: link.tasks)
        agentGroups = WorkerAgentGroups(mismatchLimit: o.agentGroupsMismatchLimit, fullResyncTimeout: o.timeoutAgentGroups)
        agentGroupsTimers = ShellTimers(eventLoop: eventLoop, tasks: link.tasks)
    }

    /// Builds the shells (they call back into this actor) and starts the tasks.
    func start() {
        buildShells()
        // Integrity and agent-info start right after `hello` (4.8.1 waits one interval first).
        integrityShell.execute(integrity.onConnected())
        agentInfoShell.execute(agentInfo.onConnected())
    }

    /// The shells exist before the first message of the master is handled: it may come before `start`.
    private func buildShells() {
        guard integrityShell == nil else { return }
        let tag = self.tag
        integrityShell = DirectiveShell(link: link, log: ctx.log, tag: { tag }, timers: integrityTimers,
                                        onTimer: { [unowned self] t in await self.integrityTimer(t) },
                                        onResponse: { [unowned self] c, r in await self.integrityResponse(c, r) },
                                        onJob: { [unowned self] job in await self.integrityJob(job) },
                                        close: { _ in })
        agentGroupsShell = DirectiveShell(link: link, log: ctx.log, tag: { tag }, timers: agentGroupsTimers,
                                          onTimer: { [unowned self] t in await self.agentGroupsTimer(t) },
                                          onResponse: { _, _ in }, onJob: { _ in }, close: { _ in })
        agentInfoShell = DirectiveShell(link: link, log: ctx.log, tag: { tag }, timers: agentInfoTimers,
                                        onTimer: { [unowned self] t in await self.agentInfoTimer(t) },
                                        onResponse: { [unowned self] c, r in await self.agentInfoResponse(c, r) },
                                        onJob: { [unowned self] job in await self.agentInfoJob(job) },
                                        close: { _ in })
    }

    private var tag: String { "Worker \(ctx.config.nodeName)" }
    private var worker: String { ctx.config.nodeName }

    /// Reads the capability line of our master's `hello` reply and answers with ours.
    func helloAccepted(_ reply: [UInt8]) async {
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasSuffix(MasterSession.capabilitiesAnnouncement) else { return }
        if case .ok? = try? await link.request("capability", text: "zip") { masterSupportsZip = true }
    }

    // MARK: integrity (§5.4, §5.7)

    private func integrityTimer(_ timer: WorkerIntegrity.Timer) async {
        let wasReceiving = if case .receiving = integrity.phase { true } else { false }
        integrityShell.execute(integrity.onTimer(timer, now: nowSeconds()))
        if wasReceiving, integrity.phase == .idle { await prefetch.abandon() }
    }

    private func integrityResponse(_ command: String, _ outcome: RequestOutcome) {
        switch command {
        case "syn_i_w_m_p": integrityShell.execute(integrity.onPermission(outcome, now: nowSeconds()))
        case "syn_i_w_m": integrityShell.execute(integrity.onOffer(outcome))
        default: break  // syn_i_w_m_r, cancel_task: nothing depends on their answer
        }
    }

    private func integrityJob(_ job: WorkerIntegrity.Job) async {
        switch job {
        case .scanAndPack:
            integrityShell.execute(integrity.onPackaged(await scanAndPack()))
            // A master's syn_m_c in the meantime ended this round: its package is not sent.
            if integrity.phase != .offering, let stale = metadataPackage {
                metadataPackage = nil
                unlink(stale)
            }
        case .sendMetadata(let taskID):
            integrityShell.execute(integrity.onMetadataSent(taskID: taskID, error: await sendMetadata(taskID: taskID), now: nowSeconds()))
        case .apply(let taskID, let path):
            let error = await applyPackage(path)
            integrityShell.execute(integrity.onApplied(taskID: taskID, error: error, now: nowSeconds()))
        }
    }

    /// Scans the node's files and writes their metadata package, on the CPU pool; the session keeps
    /// answering the master meanwhile.
    private func scanAndPack() async -> WazuhException? {
        let packagePath = newPackagePath(home: ctx.home, worker: worker)
        let (home, threads, zip, limit, level, cache) = (ctx.home, ctx.pool.threads, masterSupportsZip, ctx.options.maxZipSize, ctx.options.compressLevel, self.cache)
        do {
            self.cache = try await ctx.pool.run { () throws -> HashCache in
                var cache = cache
                // A Wazuh master does not know etc/cluster-api/: it is reported only to a clusterd master (else
                // the master would call those files extra and have them deleted).
                let items: ClusterItems = zip ? .clusterd : .wazuh481
                let scan = IntegrityScanner(home: home, items: items, concurrency: threads).scan(cache: &cache)
                MemoryTuning.releaseFreeMemory()
                try FileManager.default.createDirectory(atPath: (packagePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                _ = try PackageWriter(format: zip ? .zip : .wazuh, home: home, items: items, limit: limit, compressLevel: level)
                    .metadataPackage(scan.metadata, toFile: packagePath)
                return cache
            }
            metadataPackage = packagePath
            return nil
        } catch {
            unlink(packagePath)
            return WazuhException.wrapping(error)
        }
    }

    private func sendMetadata(taskID: String) async -> WazuhException? {
        guard let packagePath = metadataPackage else { return .cluster(3034, "no metadata package") }
        metadataPackage = nil
        defer { unlink(packagePath) }
        do {
            try await link.sendFile(packagePath)
            let relative = String(packagePath.dropFirst(ctx.home.count + 1))
            _ = try await link.request("syn_i_w_m_e", text: "\(taskID) \(relative)")
            return nil
        } catch {
            return WazuhException.wrapping(error)
        }
    }

    // MARK: requests from the master

    func handle(_ message: WireMessage) async -> Reply {
        buildShells()
        switch message.name {
        case "syn_m_c_ok":
            integrityShell.execute(integrity.onSyncNotRequired(now: nowSeconds()))
            return .ok("Thanks")
        case "syn_m_c":
            let id = UUID().uuidString.lowercased()
            prefetch.arm()
            integrityShell.execute(integrity.onSyncOffered(taskID: id, now: nowSeconds()))
            return .ok(id)
        case "syn_m_c_e":
            let (log, tag) = (ctx.log, tag)
            let claim = await link.claimNamedFile(message.payload, command: message.name, sender: "the master") {
                log.error(tag: tag, subtag: "Integrity sync", $0)
            }
            guard case .success(let (id, path)) = claim else {
                // The round waiting for this package ends now, with the reason, instead of at its timeout.
                let (taskID, _) = splitFirstSpace(message.payload)
                let wasReceiving = if case .receiving = integrity.phase { true } else { false }
                if wasReceiving {
                    integrityShell.execute(integrity.onMasterError(taskID: taskID, error: claim.refusal))
                    if integrity.phase == .idle { await prefetch.abandon() }
                }
                return .err(claim.refusal)
            }
            guard let out = integrity.onPackageNamed(taskID: id, path: path, now: nowSeconds()) else {
                unlink(path)
                return .err(.cluster(3027, id))
            }
            integrityShell.execute(out)
            return .ok("File correctly received")
        case "syn_m_c_r":
            let (id, rest) = splitFirstSpace(message.payload)
            let wasReceiving = if case .receiving = integrity.phase { true } else { false }
            integrityShell.execute(integrity.onMasterError(taskID: id, error: WazuhException.parse(payload: rest)))
            if wasReceiving, integrity.phase == .idle { await prefetch.abandon() }
            return .ok("Error received")
        case "echo-m":
            return .reply(command: "ok-c", payload: message.payload)
        case "syn_m_a_e", "syn_m_a_err":
            return agentInfoResult(message)
        case "syn_g_m_w", "syn_g_m_w_c":
            return agentGroupsReceived(message)
        case "dapi":
            return dapi.fromMaster(message.payload, link: link)
        case "dapi_res", "dapi_err":
            return await dapi.answerReceived(message, on: link)
        case "sendsyn_res", "sendsyn_err":
            let (client, rest) = splitFirstSpace(message.payload)
            guard let local = await clients.link(client) else {
                return .err(.internal(1000, "local client \(client) is gone"))
            }
            let result: Result<[UInt8], WazuhException>
            if message.name == "sendsyn_res" {
                guard let reply = await link.takeString(String(decoding: rest, as: UTF8.self)) else {
                    return .err(.cluster(3035, String(decoding: rest, as: UTF8.self)))
                }
                result = .success(reply)
            } else {
                result = .failure(WazuhException.parse(payload: rest))
                deliverSendSyncText(String(decoding: rest, as: UTF8.self), to: local)
                return .ok("SendSync error forwarded to worker")
            }
            deliverSendSync(result, to: local, timeout: ctx.options.timeoutClusterRequest)
            return .ok("Response forwarded to worker")
        default:
            return .errText("unknown command 'b'\(message.name)''")
        }
    }

    /// Applies the master's package at `path` (§5.7): checked, then made visible atomically; staged while
    /// it arrived when possible. Returns the error to report, nil when it was applied.
    private func applyPackage(_ path: String) async -> WazuhException? {
        let subtag = "Integrity sync"
        let start = Date()
        do {
            defer { unlink(path) }
            let (home, budget, log, tag) = (ctx.home, ctx.receiveBudget, ctx.log, tag)
            let actions = LockedValue(false)
            let onMetadata = { @Sendable (diff: IntegrityDiff) in
                log.info(tag: tag, subtag: subtag, "Files to create: \(diff.missing.count) | Files to update: \(diff.shared.count) | Files to delete: \(diff.extra.count)")
                actions.value = !diff.isEmpty
                if !diff.isEmpty {
                    log.debug(tag: tag, subtag: subtag, "Worker does not meet integrity checks. Actions required.")
                    log.debug(tag: tag, subtag: subtag, "Updating local files: Start.")
                }
            }
            let applier = PackageApplier(home: home, items: .clusterd)
            var staged: StagedPackage?
            switch await prefetch.take(path) {
            case .success(let early)?:
                staged = early
            case .failure(let e)?:
                // Whatever went wrong reading it early is found again (or not) reading the file.
                log.debug(tag: tag, subtag: subtag, "The package could not be unpacked while it arrived (\(e)); reading it from its file.")
            case nil:
                break
            }
            let commitStart = Date()
            log.debug(tag: tag, subtag: subtag, staged == nil ? "Unpacking the package from its file." : "Package unpacked while it arrived (its last files in \(elapsed(since: start)) after it ended).")
            let result: ApplyResult
            do {
                result = try await ctx.pool.run { [staged] () throws -> ApplyResult in
                    if let staged { return try applier.commit(staged, removingPackage: path, onMetadata: onMetadata) }
                    // Streamed from the received file: each file goes to its temporary name as it is read,
                    // and nothing becomes visible unless the whole package is sound.
                    return try applier.apply(packageFile: path, budget: budget, removingPackage: true, onMetadata: onMetadata)
                }
            } catch PackageError.notSyncGroups {
                throw WazuhException.cluster(3001, "the master sent a package without missing/shared/extra groups")
            }
            if actions.value {
                ctx.log.debug(tag: tag, subtag: subtag, "Updating local files: End.")
                ctx.log.debug(tag: tag, subtag: subtag, "Files written and made visible in \(elapsed(since: commitStart)).")
            }
            if (result.created + result.updated).contains("etc/client.keys") { await loadClientKeys() }
            if result.hasErrors {
                ctx.log.error(tag: tag, subtag: subtag, "Found errors: \(result.errorsOverwriting.count) overwriting, \(result.errorsCreating.count) creating and \(result.errorsRemoving.count) removing")
                for (p, e) in result.errorsOverwriting.merging(result.errorsCreating, uniquingKeysWith: { a, _ in a }).merging(result.errorsRemoving, uniquingKeysWith: { a, _ in a }) {
                    ctx.log.debug2(tag: tag, subtag: subtag, "\(p): \(e)")
                }
            }
            return nil
        } catch {
            return (error as? WazuhException) ?? .internal(1000, "\(error)")
        }
    }

    func closed() async {
        dapi.pending.failAll(on: link)
        integrityShell?.execute(integrity.onDisconnect())
        agentGroupsShell?.execute(agentGroups.onDisconnect())
        agentInfoShell?.execute(agentInfo.onDisconnect())
        integrityTimers.cancelAll()
        agentInfoTimers.cancelAll()
        agentGroupsTimers.cancelAll()
        await prefetch.abandon()
    }

    private func agentGroupsTimer(_ timer: WorkerAgentGroups.Timer) {
        agentGroupsShell.execute(agentGroups.onTimer(timer))
    }

    /// After a sync that changed `client.keys`, the store follows it (as a Wazuh manager's database module
    /// does on workers): agents with a key are inserted, agents without one deleted. With wazuh-db that
    /// module is wazuh-modulesd's, and the node leaves it alone.
    private func loadClientKeys() async {
        guard store.syncsClientKeys else { return }
        let tag = "Worker \(ctx.config.nodeName)"
        do {
            let (home, store) = (ctx.home, store)
            let (inserted, deleted) = try await ctx.pool.run {
                let text = try String(contentsOfFile: home + "/etc/client.keys", encoding: .utf8)
                return try store.loadClientKeys(ClientKeys.parse(text))
            }
            ctx.log.debug(tag: tag, subtag: "Integrity sync", "Agent database updated from client.keys: \(inserted) added, \(deleted) removed.")
        } catch {
            ctx.log.error(tag: tag, subtag: "Integrity sync", "Could not load client.keys into the agent database: \(error)")
        }
    }

    /// `sendsyn_err` carries the error text itself; the local client gets it verbatim in an `err` request.
    private func deliverSendSyncText(_ text: String, to local: PeerLink) {
        let timeout = ctx.options.timeoutClusterRequest
        local.tasks.spawn { _ = try? await local.request("err", Array(text.utf8), timeout: timeout) }
    }
}
