import Common
import Foundation

/// The master's side of integrity (PROTOCOL.md §5.5): permission, the worker's metadata package, the
/// comparison against the cached snapshot, and the package of files the worker lacks.
extension MasterSession {
    static let capabilitiesAnnouncement = "\ncapabilities: zip"

    func integrityCommand(_ message: WireMessage, worker: String, link: PeerLink) async -> Reply {
        let now = nowSeconds()
        switch message.name {
        case "syn_i_w_m_p":
            let (granted, out) = await master.integrity.permission(worker, session: id, now: now)
            integrityShell.execute(out)
            return .ok(granted ? "True" : "False")
        case "syn_i_w_m":
            let id = UUID().uuidString.lowercased()
            let start = Date()
            await master.registry.update(worker) { $0.status.integrityCheckStart = start }
            integrityShell.execute(await master.integrity.checkRequested(worker, session: self.id, taskID: id, now: now))
            return .ok(id)
        case "syn_i_w_m_e":
            let (log, tag) = (ctx.log, tag)
            let claim = await link.claimNamedFile(message.payload, command: message.name, sender: worker) {
                log.error(tag: tag, subtag: "Integrity check", $0)
            }
            guard case .success(let (id, path)) = claim else { return .err(claim.refusal) }
            guard let out = await master.integrity.fileNamed(worker, session: self.id, taskID: id, path: path) else {
                unlink(path)
                return .err(.cluster(3027, id))
            }
            integrityShell.execute(out)
            return .ok("File correctly received")
        case "syn_i_w_m_r":
            let (id, rest) = splitFirstSpace(message.payload)
            integrityShell.execute(await master.integrity.workerError(worker, session: self.id, taskID: id, error: WazuhException.parse(payload: rest)))
            return .ok("Error received")
        case "capability":
            let announced = Set(String(decoding: message.payload, as: UTF8.self).split(separator: " ").map(String.init))
            await master.registry.update(worker) { $0.capabilities = announced }
            return .ok("Capabilities received")
        default:
            return .errText("unknown command 'b'\(message.name)''")
        }
    }

    /// The machine's shell for this worker's integrity task (built when the link is attached).
    func makeIntegrityShell(link: PeerLink) -> DirectiveShell<MasterIntegrityTask.Job, MasterIntegrityTask.Timer> {
        DirectiveShell(link: link, log: ctx.log, tag: { [unowned self] in self.tag }, timers: integrityTimers,
                       onTimer: { [unowned self] timer in await self.integrityTimer(timer) },
                       onResponse: { [unowned self] command, outcome in await self.integrityResponse(command, outcome) },
                       onJob: { [unowned self] job in await self.integrityJob(job) },
                       close: { _ in })
    }

    private func integrityTimer(_ timer: MasterIntegrityTask.Timer) async {
        guard let name = registeredName else { return }
        integrityShell.execute(await master.integrity.timer(name, session: id, timer))
    }

    private func integrityResponse(_ command: String, _ outcome: RequestOutcome) async {
        guard command == "syn_m_c", let name = registeredName else { return }
        integrityShell.execute(await master.integrity.offered(name, session: id, outcome))
    }

    private func integrityJob(_ job: MasterIntegrityTask.Job) async {
        guard let worker = registeredName, let link else { return }
        switch job {
        case .check(_, let path):
            let result = await compare(path)
            if case .success = result {
                let end = Date()
                await master.registry.update(worker) { $0.status.integrityCheckEnd = end }
            }
            integrityShell.execute(await master.integrity.compared(worker, session: id, result, now: nowSeconds()))
        case .sendPackage(let taskID, let limit):
            let start = Date()
            let result = await sendPackage(taskID: taskID, limit: limit, worker: worker, link: link)
            if case .success(let (_, build)) = result {
                let diff = pendingDiff
                let end = Date()
                let counts = (build?.diff?.missing.count ?? 0, build?.diff?.shared.count ?? 0, build?.diff?.extra.count ?? diff?.extra.count ?? 0)
                await master.registry.update(worker) {
                    $0.status.integritySyncStart = start
                    $0.status.integritySyncEnd = end
                    ($0.status.filesMissing, $0.status.filesShared, $0.status.filesExtra) = counts
                }
            }
            pendingDiff = nil
            integrityShell.execute(await master.integrity.packageSent(worker, session: id, taskID: taskID, result.map(\.0), now: nowSeconds()))
        }
    }

    /// Reads the worker's metadata package and compares it with the snapshot, on the CPU pool; keeps the
    /// differences for the sync.
    private func compare(_ path: String) async -> Result<MasterIntegrityTask.Comparison, MasterIntegrityTask.CheckFailure> {
        let workerMetadata: IntegrityMetadata
        do {
            let budget = ctx.receiveBudget
            workerMetadata = try await ctx.pool.run {
                defer { unlink(path) }
                // Read from the file in a window; the metadata is all a worker's package should carry.
                let package = try PackageStreamReader(items: .clusterd, maxDecompressedSize: budget).read(file: path) { _ in }
                guard case .node(let metadata) = package.metadata else {
                    throw WazuhException.cluster(3001, "the worker sent a package of files instead of its metadata")
                }
                return metadata
            }
        } catch {
            return .failure(.init("Error processing worker's integrity information: \(error)"))
        }
        let snapshot = await master.integrity.snapshot
        // A Wazuh worker neither has nor wants the clusterd-only items (etc/cluster-api/).
        var peerCapable = false
        if let name = registeredName { peerCapable = await master.registry.worker(name)?.capabilities.contains("zip") ?? false }
        let clusterdPeer = peerCapable
        do {
            let diff = try await ctx.pool.run {
                var d = try IntegrityComparison.compare(master: snapshot, worker: workerMetadata, items: .clusterd)
                if !clusterdPeer { d = d.removing(where: ClusterItems.isClusterdOnly) }
                return d
            }
            pendingDiff = diff
            return .success(.init(workerFiles: workerMetadata.count, missing: diff.missing.count, shared: diff.shared.count, extra: diff.extra.count))
        } catch {
            return .failure(.init("Error comparing integrity: \(error)"))
        }
    }

    /// The `Integrity sync` package: `missing ∪ shared` within the worker's current limit, sent while it
    /// is built (never held in memory or written here), so the worker can unpack it while the rest is
    /// still being compressed; the commands a worker sees are those of a package built first.
    private func sendPackage(taskID: String, limit: Int, worker: String, link: PeerLink) async -> Result<(MasterIntegrityTask.Sent, PackageBuild?), WazuhException> {
        guard let diff = pendingDiff else { return .failure(.cluster(3001, "no comparison to send")) }
        let subtag = "Integrity sync"
        let zip = await master.registry.worker(worker)?.capabilities.contains("zip") ?? false
        let writer = PackageWriter(format: zip ? .zip : .wazuh, home: ctx.home, items: .clusterd, limit: limit, compressLevel: ctx.options.compressLevel)
        let relative = String(newPackagePath(home: ctx.home, worker: worker).dropFirst(ctx.home.count + 1))
        ctx.log.debug(tag: tag, subtag: subtag, "Compressing files and 'files_metadata.json' of \(diff.missing.count + diff.shared.count) files.")
        do {
            let sendStart = Date()
            let sending = try await link.sendStream("/" + relative, taskID: taskID) { chunkSize, take in
                try writer.syncPackage(diff, chunkSize: chunkSize, streamingTo: take)
            }
            if let build = sending.value { logSkipped(build, subtag: subtag) }
            return .success((MasterIntegrityTask.Sent(relative: relative, bytes: sending.bytes, cancelled: sending.cancelled,
                                                      seconds: Date().timeIntervalSince(sendStart)), sending.value))
        } catch {
            return .failure(WazuhException.wrapping(error))
        }
    }

    /// §5.5's warnings for files the package left out.
    private func logSkipped(_ build: PackageBuild, subtag: String) {
        if build.limitReached {
            ctx.log.warning(tag: tag, subtag: subtag, "Maximum zip size exceeded. Not all files will be compressed during this sync.")
        }
        for skipped in build.skipped where skipped.reason != .limitReached {
            ctx.log.warning(tag: tag, subtag: subtag, "\(skipped)")
        }
    }
}
