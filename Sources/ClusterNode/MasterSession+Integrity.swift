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
            let (granted, out) = await master.integrity.permission(worker, now: now)
            integrityShell.execute(out)
            return .ok(granted ? "True" : "False")
        case "syn_i_w_m":
            let id = UUID().uuidString.lowercased()
            checkStart = Date()
            ctx.log.info(tag: tag, subtag: "Integrity check", "Starting.")
            let start = checkStart
            await master.registry.update(worker) { $0.status.integrityCheckStart = start }
            integrityShell.execute(await master.integrity.checkRequested(worker, taskID: id, now: now))
            return .ok(id)
        case "syn_i_w_m_e":
            let (id, rest) = splitFirstSpace(message.payload)
            let relative = String(decoding: rest, as: UTF8.self)
            // Only a file this worker sent on this connection (4.8.1 opens any path it is given, so a
            // peer could make the master read, then delete, its own local socket).
            guard let path = await link.claimReceivedFile(relative) else {
                ctx.log.error(tag: tag, subtag: "Integrity check", "Refused 'syn_i_w_m_e' naming '\(relative)': not a file \(worker) sent on this connection.")
                return .err(.cluster(3040, "'\(relative)' is not a file received from \(worker) on this connection"))
            }
            guard let out = await master.integrity.fileNamed(worker, taskID: id, path: path) else {
                unlink(path)
                return .err(.cluster(3027, id))
            }
            integrityShell.execute(out)
            return .ok("File correctly received")
        case "syn_i_w_m_r":
            let (id, rest) = splitFirstSpace(message.payload)
            integrityShell.execute(await master.integrity.workerError(worker, taskID: id, error: WazuhException.parse(payload: rest)))
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
                              onResponse: { _, _ in },
                              onJob: { [unowned self] job in await self.integrityJob(job) },
                              close: { _ in })
    }

    private func integrityTimer(_ timer: MasterIntegrityTask.Timer) async {
        guard let name = registeredName else { return }
        integrityShell.execute(await master.integrity.timer(name, timer))
    }

    private func integrityJob(_ job: MasterIntegrityTask.Job) async {
        guard case .check(let taskID, let path) = job, let worker = registeredName, let link else { return }
        let synced = await integrityCheck(taskID: taskID, path: path, worker: worker, link: link)
        switch synced {
        case nil:
            await master.integrity.checkEnded(worker)
        case .some(let sent):
            integrityShell.execute(await master.integrity.syncEnded(worker, cancelled: sent.cancelled, sentBytes: sent.bytes, sendSeconds: sent.seconds))
        }
    }

    /// The `Integrity check` task once the worker's metadata arrived: compare and answer. Returns how the
    /// sync's sending went when one was needed and sent.
    private func integrityCheck(taskID: String, path: String, worker: String, link: PeerLink) async -> (cancelled: Bool, bytes: Int, seconds: Double)? {
        let start = checkStart
        let subtag = "Integrity check"
        ctx.log.debug(tag: tag, subtag: subtag, "Received file from worker: '\(path)'")
        let workerMetadata: IntegrityMetadata
        do {
            let budget = ctx.receiveBudget
            workerMetadata = try await ctx.pool.run {
                defer { unlink(path) }
                // Read from the file in a window; the metadata is all a worker's package should carry.
                let package = try PackageStreamReader(maxDecompressedSize: budget).read(file: path) { _ in }
                guard case .node(let metadata) = package.metadata else {
                    throw WazuhException.cluster(3001, "the worker sent a package of files instead of its metadata")
                }
                return metadata
            }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error processing worker's integrity information: \(error)")
            return nil
        }
        let snapshot = await master.integrity.snapshot
        let diff: IntegrityDiff
        do {
            diff = try await ctx.pool.run { try IntegrityComparison.compare(master: snapshot, worker: workerMetadata) }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error comparing integrity: \(error)")
            return nil
        }
        let end = Date()
        await master.registry.update(worker) { $0.status.integrityCheckEnd = end }
        if diff.isEmpty {
            ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Received metadata of \(workerMetadata.count) files. Sync not required.")
            _ = try? await link.request("syn_m_c_ok")
            return nil
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Received metadata of \(workerMetadata.count) files. Sync required.")
        return await integritySync(diff, worker: worker, link: link)
    }

    /// The `Integrity sync` task: package `missing ∪ shared` within the worker's current limit and send it.
    /// The package is sent while it is built (never held in memory or written here), so the worker can
    /// unpack it while the rest is still being compressed; the commands a worker sees are the same as
    /// for a package built first (`syn_m_c`, the file, `syn_m_c_e`).
    private func integritySync(_ diff: IntegrityDiff, worker: String, link: PeerLink) async -> (cancelled: Bool, bytes: Int, seconds: Double)? {
        let start = Date()
        let subtag = "Integrity sync"
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        ctx.log.info(tag: tag, subtag: subtag, "Files to create in worker: \(diff.missing.count) | Files to update in worker: \(diff.shared.count) | Files to delete in worker: \(diff.extra.count)")
        let zip = await master.registry.worker(worker)?.capabilities.contains("zip") ?? false
        let limit = await master.integrity.zipLimit(worker)
        let writer = PackageWriter(format: zip ? .zip : .wazuh, home: ctx.home, limit: limit, compressLevel: ctx.options.compressLevel)
        let relative = String(newPackagePath(home: ctx.home, worker: worker).dropFirst(ctx.home.count + 1))
        var taskID = "None"
        var build: PackageBuild?
        var outcome: (cancelled: Bool, bytes: Int, seconds: Double)
        do {
            let reply = try await link.request("syn_m_c")
            guard case .ok(let id) = reply else { throw WazuhException.cluster(3016, reply.text) }
            taskID = String(decoding: id, as: UTF8.self)
            ctx.log.debug(tag: tag, subtag: subtag, "Compressing files and 'files_metadata.json' of \(diff.missing.count + diff.shared.count) files.")
            ctx.log.debug(tag: tag, subtag: subtag, "Sending zip file.")
            let sendStart = Date()
            let sending = try await link.sendStream("/" + relative, taskID: taskID) { chunkSize, take in
                try writer.syncPackage(diff, chunkSize: chunkSize, streamingTo: take)
            }
            build = sending.value
            ctx.log.debug(tag: tag, subtag: subtag, "Zip file sent.")
            if let build { logSkipped(build, subtag: subtag) }
            _ = try await link.request("syn_m_c_e", text: "\(taskID) \(relative)")
            outcome = (sending.cancelled, sending.bytes, Date().timeIntervalSince(sendStart))
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error sending zip file: \(error)")
            let e = WazuhException.wrapping(error)
            _ = try? await link.request("syn_m_c_r", Array("\(taskID) ".utf8) + e.payload)
            return nil
        }
        let end = Date()
        let counts = (build?.diff?.missing.count ?? 0, build?.diff?.shared.count ?? 0, build?.diff?.extra.count ?? diff.extra.count)
        await master.registry.update(worker) {
            $0.status.integritySyncStart = start
            $0.status.integritySyncEnd = end
            ($0.status.filesMissing, $0.status.filesShared, $0.status.filesExtra) = counts
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)).")
        return outcome
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
