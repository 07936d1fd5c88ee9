import Common
import Foundation
import NIOCore

/// One connection of a worker to its master, with all per-connection state (reset on reconnect, as in
/// 4.8.1): the integrity hash cache, the receive tasks, whether a check may start, the master's formats.
actor WorkerSession {
    let ctx: NodeContext
    let link: PeerLink
    let receiveTasks: ReceiveTasks
    private var cache = HashCache()
    private var checkIntegrityFree = true
    private var checkStart = Date()
    /// The master announced zip packages in its `hello` reply (our master); a Wazuh master did not.
    private(set) var masterSupportsZip = false
    var agentInfoStart = Date()
    var groupMismatches = 0

    let store: AgentStore
    let clients: LocalClients
    /// The master's package, unpacked while it arrives; the link tells it of each file it starts receiving.
    nonisolated let prefetch: PackagePrefetch

    init(ctx: NodeContext, link: PeerLink, store: AgentStore, clients: LocalClients, prefetch: PackagePrefetch, eventLoop: any EventLoop) {
        self.ctx = ctx
        self.link = link
        self.store = store
        self.clients = clients
        self.prefetch = prefetch
        receiveTasks = ReceiveTasks(eventLoop: eventLoop)
    }

    private var tag: String { "Worker \(ctx.config.nodeName)" }
    private var worker: String { ctx.config.nodeName }

    /// Reads the capability line of our master's `hello` reply and answers with ours.
    func helloAccepted(_ reply: [UInt8]) async {
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasSuffix(MasterSession.capabilitiesAnnouncement) else { return }
        if case .ok? = try? await link.request("capability", text: "zip") { masterSupportsZip = true }
    }

    // MARK: integrity check round (§5.4)

    /// Runs integrity rounds: the first at once, then every `sync_integrity`.
    func integrityLoop() async {
        while !Task.isCancelled {
            if checkIntegrityFree { await integrityRound() }
            do { try await Task.sleep(nanoseconds: UInt64(ctx.options.syncIntegrity * 1e9)) } catch { return }
        }
    }

    private func integrityRound() async {
        let subtag = "Integrity check"
        do {
            let permission = try await link.request("syn_i_w_m_p")
            guard case .ok(let answer) = permission, answer == Array("True".utf8) else {
                ctx.log.debug(tag: tag, subtag: subtag, "Master didn't grant permission to start a new synchronization: b'\(permission.text)'")
                return
            }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error asking for permission: \(error)")
            return
        }
        ctx.log.debug(tag: tag, subtag: subtag, "Permission to synchronize granted.")
        checkStart = Date()
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        let packagePath = newPackagePath(home: ctx.home, worker: worker)
        var taskID = "None"
        do {
            // Scanning and packaging run on the CPU pool; the session keeps answering the master meanwhile.
            let (home, threads, zip, limit, level, cache) = (ctx.home, ctx.pool.threads, masterSupportsZip, ctx.options.maxZipSize, ctx.options.compressLevel, self.cache)
            self.cache = try await ctx.pool.run { () throws -> HashCache in
                var cache = cache
                let scan = IntegrityScanner(home: home, concurrency: threads).scan(cache: &cache)
                try FileManager.default.createDirectory(atPath: (packagePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                _ = try PackageWriter(format: zip ? .zip : .wazuh, home: home, limit: limit, compressLevel: level)
                    .metadataPackage(scan.metadata, toFile: packagePath)
                return cache
            }
            defer { unlink(packagePath) }
            let reply = try await link.request("syn_i_w_m")
            guard case .ok(let id) = reply else { throw WazuhException.cluster(3016, reply.text) }
            taskID = String(decoding: id, as: UTF8.self)
            try await link.sendFile(packagePath)
            let relative = String(packagePath.dropFirst(ctx.home.count + 1))
            _ = try await link.request("syn_i_w_m_e", text: "\(taskID) \(relative)")
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error sending zip file: \(error)")
            let e = WazuhException.wrapping(error)
            _ = try? await link.request("syn_i_w_m_r", Array("\(taskID) ".utf8) + e.payload)
        }
    }

    // MARK: requests from the master

    func handle(_ message: WireMessage) async -> Reply {
        switch message.name {
        case "syn_m_c_ok":
            ctx.log.info(tag: tag, subtag: "Integrity check", "Finished in \(elapsed(since: checkStart)). Sync not required.")
            return .ok("Thanks")
        case "syn_m_c":
            ctx.log.info(tag: tag, subtag: "Integrity check", "Finished in \(elapsed(since: checkStart)). Sync required.")
            checkIntegrityFree = false
            prefetch.arm()
            let id = await receiveTasks.create()
            link.tasks.spawn { await self.integritySync(taskID: id) }
            return .ok(id)
        case "syn_m_c_e":
            let (id, rest) = splitFirstSpace(message.payload)
            let relative = String(decoding: rest, as: UTF8.self)
            // Only a package the master sent on this connection.
            guard let path = await link.claimReceivedFile(relative) else {
                ctx.log.error(tag: tag, subtag: "Integrity sync", "Refused 'syn_m_c_e' naming '\(relative)': not a file the master sent on this connection.")
                return .err(.cluster(3040, "'\(relative)' is not a file received from the master on this connection"))
            }
            if await receiveTasks.complete(id, with: .success(path)) { return .ok("File correctly received") }
            return .err(.cluster(3027, id))
        case "syn_m_c_r":
            let (id, rest) = splitFirstSpace(message.payload)
            let error = WazuhException.parse(payload: rest)
            if !(id != "None" ? await receiveTasks.complete(id, with: .failure(error)) : false) {
                ctx.log.error(tag: tag, subtag: "Integrity sync", "Error in synchronization process: \(error)")
            }
            return .ok("Error received")
        case "echo-m":
            return .reply(command: "ok-c", payload: message.payload)
        case "syn_m_a_e", "syn_m_a_err":
            return agentInfoResult(message)
        case "syn_g_m_w", "syn_g_m_w_c":
            return agentGroupsReceived(message)
        case "dapi_res", "dapi_err":
            return await dapiResult(message)
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

    /// The `Integrity sync` task (§5.7): wait for the master's package, check it, apply it atomically.
    private func integritySync(taskID: String) async {
        let subtag = "Integrity sync"
        defer { checkIntegrityFree = true }
        let received = await receiveTasks.wait(taskID, timeout: ctx.options.timeoutReceivingFile)
        let path: String
        switch received {
        case .success(let p): path = p
        case .failure(let e):
            await prefetch.abandon()
            if e.code == 3039 { _ = try? await link.request("cancel_task", Array((taskID + " ").utf8) + e.payload) }
            ctx.log.error(tag: tag, subtag: subtag, "Error synchronizing files: \(e)")
            _ = try? await link.request("syn_i_w_m_r", Array("None ".utf8) + WazuhException.cluster(1000, e.description).payload)
            return
        }
        let start = Date()
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
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
            let applier = PackageApplier(home: home)
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
            ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)).")
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error synchronizing files: \(error)")
            _ = try? await link.request("syn_i_w_m_r", Array("None ".utf8) + ((error as? WazuhException) ?? .internal(1000, "\(error)")).payload)
        }
    }

    func closed() async {
        await receiveTasks.cancelAll()
        await prefetch.abandon()
    }

    /// After a sync that changed `client.keys`, the store follows it (as a Wazuh manager's database module
    /// does on workers): agents with a key are inserted, agents without one deleted.
    private func loadClientKeys() async {
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
