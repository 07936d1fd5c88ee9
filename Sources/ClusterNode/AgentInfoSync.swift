import Common
import Foundation

/// Agent-info (PROTOCOL.md §6), worker side: every `sync_agent_info` (the first right after `hello`),
/// send the rows marked `syncreq` to the master as a long string.
extension WorkerSession {
    func agentInfoTimer(_ timer: WorkerAgentInfo.Timer) {
        agentInfoShell.execute(agentInfo.onTimer(timer, now: nowSeconds()))
    }

    func agentInfoResponse(_ command: String, _ outcome: RequestOutcome) {
        if command == "syn_a_w_m_p" { agentInfoShell.execute(agentInfo.onPermission(outcome)) }
    }

    func agentInfoJob(_ job: WorkerAgentInfo.Job) async {
        let sent = await agentInfoRound()
        agentInfoShell.execute(agentInfo.onSent(sentChunks: sent, now: nowSeconds()))
    }

    /// One round once the master said it is free: returns the number of chunks sent.
    private func agentInfoRound() async -> Int {
        let subtag = "Agent-info sync"
        let tag = "Worker \(ctx.config.nodeName)"
        let start = Date()
        agentInfoStart = start
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        // The store hands each page over before marking its rows synced, so the last page is sent while
        // SQLite still writes; the reader's outcome is collected once the string is out.
        let store = self.store
        let (pages, delivered) = AsyncStream.makeStream(of: String?.self)  // nil: that was the last page
        async let readError: String? = ctx.pool.result {
            defer { delivered.finish() }
            var status = "due"
            while status == "due" {
                try store.syncAgentInfoGet { pageStatus, payload in
                    status = pageStatus
                    if payload != "[]" && payload != #"[{"data":[]}]"# { delivered.yield(payload) }
                    if pageStatus != "due" { delivered.yield(nil) }
                }
            }
        }.errorText
        var chunks: [JSONValue] = []
        var complete = false
        for await page in pages {
            guard let page else { complete = true; break }
            chunks.append(.string(page))
        }
        let log = ctx.log
        let reportReadError = { (error: String?) in
            if let error { log.error(tag: tag, subtag: subtag, "Could not obtain data from wazuh-db: \(error)") }
        }
        if !complete {
            // The reader failed before the last page (wazuh-db restarting, say). The pages read are sent
            // all the same: wazuh-db marked their rows synced when it returned them, so dropping them (as
            // 4.8.1 does) would leave the master without those rows until they change again. The rows not
            // read yet are still syncreq and go next round.
            reportReadError(await readError)
        }
        ctx.log.debug(tag: tag, subtag: subtag, "Obtained \(chunks.count) chunks of data in \(elapsed(since: start)).")
        guard !chunks.isEmpty else {
            if complete { reportReadError(await readError) }
            ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Updated 0 chunks.")
            return 0
        }
        let envelope: JSONValue = ["set_data_command": "global sync-agent-info-set", "payload": [:], "chunks": .array(chunks)]
        do {
            ctx.log.debug(tag: tag, subtag: subtag, "Sending chunks.")
            let bytes = PythonJSONEncoder().encodeBytes(envelope)  // json.dumps text, without a String copy
            let encoded = Date()
            _ = try await link.sendString(bytes, then: "syn_a_w_m") { Array($0.utf8) }
            ctx.log.debug(tag: tag, subtag: subtag, "Sent \(bytes.count) bytes (encoded in \(String(format: "%.3fs", encoded.timeIntervalSince(start))), sent in \(elapsed(since: encoded))).")
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error synchronizing agent info: \(error)")
            if complete { reportReadError(await readError) }
            return 0
        }
        if complete { reportReadError(await readError) }  // a failed commit leaves the rows syncreq for the next round
        return chunks.count
    }

    /// `syn_m_a_e` / `syn_m_a_err` from the master.
    func agentInfoResult(_ message: WireMessage) -> Reply {
        let tag = "Worker \(ctx.config.nodeName)", subtag = "Agent-info sync"
        let text = String(decoding: message.payload, as: UTF8.self)
        agentInfoShell.execute(agentInfo.onResult())
        if message.name == "syn_m_a_err" {
            ctx.log.error(tag: tag, subtag: subtag, "There was an error while processing agent-info on the peer: \(text)")
            return .ok("Thanks")
        }
        _ = ctx.log.syncResult(message.payload, since: agentInfoStart, tag: tag, subtag: subtag)
        // The round's checkpoint, now that the master is done: earlier it would compete with its writes.
        let store = self.store, log = ctx.log, pool = ctx.pool
        link.tasks.spawn { await store.checkpointAfterRound(log, pool: pool, tag: tag, subtag: subtag) }
        return .ok("Thanks")
    }
}

/// Agent-info, master side: apply the worker's chunks to the store off the event loop, within
/// `timeout_agent_info`, and report with `syn_m_a_e`.
extension MasterSession {
    func agentInfoCommand(_ message: WireMessage, worker: String, link: PeerLink) async -> Reply {
        if message.name == "syn_a_w_m_p" {
            let (free, out) = agentInfo.onPermissionRequest(now: nowSeconds())
            runLogs(out)
            await master.registry.update(worker) { $0.status.agentInfoFree = free }
            return .ok(free ? "True" : "False")
        }
        let id = String(decoding: message.payload, as: UTF8.self)
        for directive in agentInfo.onChunks(stringID: id, now: nowSeconds()) {
            guard case .run(.apply(let stringID)) = directive else { continue }
            await master.registry.update(worker) { $0.status.agentInfoFree = false }
            link.tasks.spawn {
                await self.agentInfoSync(stringID: stringID, worker: worker, link: link)
                await self.agentInfoApplied(worker)
            }
        }
        return .ok(id)
    }

    private func agentInfoApplied(_ worker: String) async {
        agentInfo.onApplied()
        await master.registry.update(worker) { $0.status.agentInfoFree = true }
    }

    /// Runs the log directives of a machine that has no other effects here.
    func runLogs<J, T>(_ directives: [Directive<J, T>]) {
        for case .log(let level, let subtag, let text) in directives { ctx.log.log(level, tag: tag, subtag: subtag, text) }
    }

    private func agentInfoSync(stringID: String, worker: String, link: PeerLink) async {
        let subtag = "Agent-info sync"
        let start = Date()
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        await master.agentInfoTurn.acquire()
        let applied = await applyAgentInfo(stringID: stringID, link: link, deadline: start.addingTimeInterval(ctx.options.timeoutAgentInfo))
        // The round's string and its parse (megabytes for thousands of agents) died with `applyAgentInfo`:
        // hand them back, or the resident size between rounds follows the largest rounds (the soak's sawtooth).
        _ = await ctx.pool.result { MemoryTuning.releaseFreeMemory() }
        master.agentInfoTurn.release()
        let (pooled, chunkCount, parsed): (Result<(Int, [String], Bool), any Error>, Int, Date)
        switch applied {
        case .refused(let text):
            _ = try? await link.request("syn_m_a_err", text: text)
            return
        case .applied(let p, let c, let d): (pooled, chunkCount, parsed) = (p, c, d)
        }
        let outcome: (Int, [String], Bool)
        switch pooled {
        case .success(let value): outcome = value
        case .failure(let error as CancellationError):
            // The worker's session ended while its chunks were applied: nobody is left to answer, and this
            // is no wazuh-db error. What was applied stays; the worker sends its next round on a new session.
            _ = error
            ctx.log.info(tag: tag, subtag: subtag, "Stopped: the connection with \(worker) closed while its chunks were applied.")
            return
        case .failure(let error): outcome = (0, ["\(error)"], false)
        }
        ctx.log.debug(tag: tag, subtag: subtag, "\(outcome.0)/\(chunkCount) chunks updated in wazuh-db in \(elapsed(since: parsed)) (read in \(String(format: "%.3fs", parsed.timeIntervalSince(start)))).")
        if outcome.2 { ctx.log.error(tag: tag, subtag: subtag, "Timeout while processing agent-info chunks.") }
        for (i, e) in outcome.1.enumerated() {
            ctx.log.error(tag: tag, subtag: subtag, "Wazuh-db response for chunk \(i + 1)/\(chunkCount) was not \"ok\": \(e)")
        }
        let result: JSONValue = ["updated_chunks": .int(Int64(outcome.0)), "error_messages": .array(outcome.1.map { .string($0) }),
                                 "time_spent": .double(Date().timeIntervalSince(start))]
        _ = try? await link.request("syn_m_a_e", text: result.pythonText)
        await master.store.checkpointAfterRound(ctx.log, pool: ctx.pool, tag: tag, subtag: subtag)
        let end = Date()
        let n = outcome.0
        await master.registry.update(worker) {
            $0.status.agentInfoStart = start
            $0.status.agentInfoEnd = end
            $0.status.agentInfoChunks = n
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Updated \(outcome.0) chunks.")
    }

    enum AgentInfoApplied {
        /// The string is missing or is not JSON: the text of the `syn_m_a_err` that tells the worker.
        case refused(String)
        /// (updated, errors, timed out), the number of chunks, when parsing ended.
        case applied(Result<(Int, [String], Bool), any Error>, chunks: Int, parsed: Date)
    }

    /// Takes the worker's string, parses it and applies its chunks on the CPU pool until `deadline`
    /// (`timeout_agent_info` after the round started, its wait for a turn included). Everything large
    /// lives only here.
    private func applyAgentInfo(stringID: String, link: PeerLink, deadline: Date) async -> AgentInfoApplied {
        let chunks: [String]
        switch await agentInfoChunks(stringID: stringID, link: link) {
        case .success(let c): chunks = c
        case .failure(let refusal): return .refused(refusal.text)
        }
        let parsed = Date()
        let store = master.store
        let pooled = await ctx.pool.result { () -> (Int, [String], Bool) in
            var updated = 0
            var errors: [String] = []
            for chunk in chunks {
                if Date() > deadline { return (updated, errors, true) }
                do throws(StoreError) {
                    _ = try store.syncAgentInfoSet(chunk)
                    updated += 1
                } catch {
                    // wazuh-db's own text, as 4.8.1 reports it; other failures name the database.
                    errors.append(error.kind == .wazuhDB ? error.detail : error.description)
                }
            }
            return (updated, errors, false)
        }
        return .applied(pooled, chunks: chunks.count, parsed: parsed)
    }

    struct AgentInfoRefusal: Error { let text: String }

    /// The chunks of the worker's string, or why there are none (missing, not JSON). The string itself and
    /// its envelope end here, before the chunks are applied.
    private func agentInfoChunks(stringID: String, link: PeerLink) async -> Result<[String], AgentInfoRefusal> {
        guard let bytes = await link.takeString(stringID) else {
            return .failure(AgentInfoRefusal(text: "error while trying to access string under task_id b'\(stringID)'."))
        }
        let envelope: JSONValue
        do { envelope = try JSONParser.parse(bytes) } catch {
            return .failure(AgentInfoRefusal(text: "error while trying to load JSON: \(error)"))
        }
        return .success(envelope["chunks"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}

extension ClusterLog {
    /// Logs a peer's `{"updated_chunks", "error_messages", "time_spent"}` result as 4.8.1 does: INFO
    /// `Finished in X. Updated N chunks.`, or ERROR with ` There were K chunks with errors: [...]`.
    /// Returns the number of chunks updated.
    func syncResult(_ payload: [UInt8], since start: Date, tag: String, subtag: String) -> Int {
        let result = try? JSONParser.parse(payload)
        let updated = Int(result?["updated_chunks"]?.intValue ?? 0)
        let errors = result?["error_messages"]?.arrayValue ?? []
        let line = "Finished in \(elapsed(since: start)). Updated \(updated) chunks."
        if errors.isEmpty {
            info(tag: tag, subtag: subtag, line)
        } else {
            error(tag: tag, subtag: subtag, line + " There were \(errors.count) chunks with errors: \(JSONValue.array(errors).pythonText)")
        }
        return updated
    }
}

extension AgentBackend {
    /// `checkpoint()`, which the agent-info commands leave for after the round, on the CPU pool. A
    /// failure is only logged: the next write checkpoints again.
    func checkpointAfterRound(_ log: ClusterLog, pool: CPUPool, tag: String, subtag: String) async {
        if case .failure(let error) = await pool.result({ try self.checkpoint() }) {
            log.warning(tag: tag, subtag: subtag, "Could not checkpoint the agent database: \(error)")
        }
    }
}
