import Common
import Foundation

/// The master's side of integrity (PROTOCOL.md §5.5): permission, the worker's metadata package, the
/// comparison against the cached snapshot, and the package of files the worker lacks.
extension MasterSession {
    static let capabilitiesAnnouncement = "\ncapabilities: zip"

    func integrityCommand(_ message: WireMessage, worker: String, link: PeerLink) async -> Reply {
        switch message.name {
        case "syn_i_w_m_p":
            let answer = await master.integrity.ask(worker)
            if answer.autoReleased {
                ctx.log.warning(tag: tag, subtag: "Main", "Automatically releasing Integrity check permissions flag (b'syn_i_w_m_p') after being locked out for more than \(Int(ctx.options.maxLockedIntegrityTime))s.")
            }
            return .ok(answer.granted ? "True" : "False")
        case "syn_i_w_m":
            await master.integrity.lock(worker)
            let id = await receiveTasks.create()
            link.tasks.spawn {
                await self.integrityCheck(taskID: id, worker: worker, link: link)
                await self.master.integrity.release(worker)
            }
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
            if await receiveTasks.complete(id, with: .success(path)) { return .ok("File correctly received") }
            return .err(.cluster(3027, id))
        case "syn_i_w_m_r":
            let (id, rest) = splitFirstSpace(message.payload)
            let error = WazuhException.parse(payload: rest)
            let delivered = id != "None" ? await receiveTasks.complete(id, with: .failure(error)) : false
            if !delivered {
                ctx.log.error(tag: tag, subtag: "Integrity check", "Error in synchronization process: \(error)")
            }
            await master.integrity.release(worker)
            return .ok("Error received")
        case "capability":
            let announced = Set(String(decoding: message.payload, as: UTF8.self).split(separator: " ").map(String.init))
            await master.registry.update(worker) { $0.capabilities = announced }
            return .ok("Capabilities received")
        default:
            return .errText("unknown command 'b'\(message.name)''")
        }
    }

    /// The `Integrity check` task: wait for the worker's metadata, compare, and answer.
    private func integrityCheck(taskID: String, worker: String, link: PeerLink) async {
        let start = Date()
        let subtag = "Integrity check"
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        await master.registry.update(worker) { $0.status.integrityCheckStart = start }
        let received = await receiveTasks.wait(taskID, timeout: ctx.options.timeoutReceivingFile)
        let path: String
        switch received {
        case .success(let p): path = p
        case .failure(let e):
            if e.code == 3039 {
                _ = try? await link.request("cancel_task", Array((taskID + " ").utf8) + e.payload)
            }
            ctx.log.error(tag: tag, subtag: subtag, "Error receiving worker's integrity information: \(e)")
            return
        }
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
            return
        }
        let snapshot = await master.integrity.snapshot
        let diff: IntegrityDiff
        do {
            diff = try await ctx.pool.run { try IntegrityComparison.compare(master: snapshot, worker: workerMetadata) }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error comparing integrity: \(error)")
            return
        }
        let end = Date()
        await master.registry.update(worker) { $0.status.integrityCheckEnd = end }
        if diff.isEmpty {
            ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Received metadata of \(workerMetadata.count) files. Sync not required.")
            _ = try? await link.request("syn_m_c_ok")
            return
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Received metadata of \(workerMetadata.count) files. Sync required.")
        await integritySync(diff, worker: worker, link: link)
    }

    /// The `Integrity sync` task: package `missing ∪ shared` within the worker's current limit and send it.
    /// The package is sent while it is built (never held in memory or written here), so the worker can
    /// unpack it while the rest is still being compressed; the commands a worker sees are the same as
    /// for a package built first (`syn_m_c`, the file, `syn_m_c_e`).
    private func integritySync(_ diff: IntegrityDiff, worker: String, link: PeerLink) async {
        let start = Date()
        let subtag = "Integrity sync"
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        ctx.log.info(tag: tag, subtag: subtag, "Files to create in worker: \(diff.missing.count) | Files to update in worker: \(diff.shared.count) | Files to delete in worker: \(diff.extra.count)")
        let zip = await master.registry.worker(worker)?.capabilities.contains("zip") ?? false
        let writer = PackageWriter(format: zip ? .zip : .wazuh, home: ctx.home, limit: zipLimit.current, compressLevel: ctx.options.compressLevel)
        let relative = String(newPackagePath(home: ctx.home, worker: worker).dropFirst(ctx.home.count + 1))
        var taskID = "None"
        var build: PackageBuild?
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
            switch zipLimit.adjust(cancelled: sending.cancelled, sentBytes: sending.bytes, sendSeconds: Date().timeIntervalSince(sendStart)) {
            case .decreased(let v): ctx.log.debug(tag: tag, subtag: subtag, String(format: "Decreasing sync size limit to %.2f MB.", Double(v) / 1048576))
            case .increased(let v): ctx.log.debug(tag: tag, subtag: subtag, String(format: "Increasing sync size limit to %.2f MB.", Double(v) / 1048576))
            case .unchanged: break
            }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error sending zip file: \(error)")
            let e = WazuhException.wrapping(error)
            _ = try? await link.request("syn_m_c_r", Array("\(taskID) ".utf8) + e.payload)
            return
        }
        let end = Date()
        let counts = (build?.diff?.missing.count ?? 0, build?.diff?.shared.count ?? 0, build?.diff?.extra.count ?? diff.extra.count)
        await master.registry.update(worker) {
            $0.status.integritySyncStart = start
            $0.status.integritySyncEnd = end
            ($0.status.filesMissing, $0.status.filesShared, $0.status.filesExtra) = counts
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)).")
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
