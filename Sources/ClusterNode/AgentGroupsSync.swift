import Common
import Foundation

/// Agent-groups (PROTOCOL.md §7), master side: `Local agent-groups` reads the agents whose groups
/// changed (with the global hash) and sends them to every worker; `syn_w_g_c` asks for everything.
extension Master {
    /// The shell of `MasterAgentGroups`: one round at a time, its timer a sleep of this task.
    func localAgentGroupsLoop() async throws {
        var machine = MasterAgentGroups(startDelay: ctx.options.agentGroupStartDelay, interval: ctx.options.syncAgentGroupsMaster)
        var pending = machine.onStart()
        var chunks: [String] = []
        while !pending.isEmpty {
            switch pending.removeFirst() {
            case .log(let level, let subtag, let text):
                ctx.log.log(level, tag: "Master", subtag: subtag, text)
            case .arm(let timer, let after):
                try await Task.sleep(nanoseconds: UInt64(after * 1e9))
                let workers = await registry.all.filter(\.helloAccepted).map(\.name)
                pending += machine.onTimer(timer, connectedWorkers: workers, now: nowSeconds())
            case .run(.collect):
                let store = self.store
                let result: Result<Int, MasterAgentGroups.CollectFailure>
                do {
                    chunks = try await ctx.pool.run {
                        try Self.collectChunks { try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true, lastID: $0) }
                    }
                    result = .success(chunks.count)
                } catch {
                    chunks = []
                    result = .failure(.init("\(error)"))
                }
                let workers = await registry.all.filter(\.helloAccepted)
                let (sendTo, out) = machine.onCollected(result, connectedWorkers: workers.map(\.name), now: nowSeconds())
                // Each send belongs to that worker's connection and ends with it.
                let toSend = chunks
                for w in workers where sendTo.contains(w.name) {
                    w.link.tasks.spawn { await self.sendAgentGroups(toSend, to: w, full: false) }
                }
                pending += out
            case .request, .cancel, .close:
                break
            }
        }
    }

    /// Repeats a wazuh-db style query while it answers `due`; `next` gets the last id seen (paging).
    static func collectChunks(_ next: (Int) throws -> (status: String, payload: String)) throws -> [String] {
        var chunks: [String] = []
        var lastID = 0
        while true {
            let (status, payload) = try next(lastID)
            if payload != "[]" && payload != #"[{"data":[]}]"# { chunks.append(payload) }
            guard status == "due" else { break }
            let parsed = try? JSONParser.parse(payload)
            let newLast = parsed?.arrayValue?.last?["data"]?.arrayValue?.last?["id"]?.intValue.map(Int.init)
            guard let newLast, newLast > lastID else { break }
            lastID = newLast
        }
        return chunks
    }

    /// `Agent-groups send` (or `send full`): the long string, then `syn_g_m_w` (`syn_g_m_w_c`).
    func sendAgentGroups(_ chunks: [String], to worker: WorkerInfo, full: Bool) async {
        let tag = "Worker \(worker.name)", subtag = full ? "Agent-groups send full" : "Agent-groups send"
        let start = Date()
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        await registry.update(worker.name) {
            if full { $0.status.agentGroupsFullStart = start } else { $0.status.agentGroupsStart = start }
        }
        let envelope: JSONValue = ["set_data_command": "global set-agent-groups",
                                   "payload": ["mode": "override", "sync_status": "synced"],
                                   "chunks": .array(chunks.map { .string($0) })]
        do {
            _ = try await worker.link.sendString(PythonJSONEncoder().encodeBytes(envelope), then: full ? "syn_g_m_w_c" : "syn_g_m_w") { Array($0.utf8) }
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error sending agent-groups information to \(worker.name): \(error)")
        }
    }

    /// `syn_w_g_c`: every agent's groups, after recalculating the hashes.
    func sendAllAgentGroups(to worker: WorkerInfo) async {
        let tag = "Worker \(worker.name)", subtag = "Agent-groups send full"
        let store = self.store
        do {
            let chunks = try await ctx.pool.run { () throws -> [String] in
                do { try store.recalculateAgentGroupHashes() } catch {
                    // 4.8.1 only warns and goes on.
                }
                return try Self.collectChunks { try store.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false, lastID: $0) }
            }
            if chunks.isEmpty {
                ctx.log.info(tag: tag, subtag: subtag, "Finished in 0.000s. Updated 0 chunks.")
                return
            }
            await sendAgentGroups(chunks, to: worker, full: true)
        } catch {
            ctx.log.error(tag: tag, subtag: subtag, "Error getting agent-groups from WDB: \(error)")
        }
    }
}

extension MasterSession {
    func agentGroupsCommand(_ message: WireMessage, worker: String) async -> Reply {
        let full = message.name.hasPrefix("syn_wgc")
        let subtag = full ? "Agent-groups send full" : "Agent-groups send"
        switch message.name {
        case "syn_w_g_c":
            if let info = await master.registry.worker(worker) { info.link.tasks.spawn { await self.master.sendAllAgentGroups(to: info) } }
            return .ok("<clusterd full agent-groups task for \(worker)>")
        case "syn_w_g_err", "syn_wgc_err":
            ctx.log.error(tag: tag, subtag: subtag, "There was an error while processing agent-groups on the peer: \(String(decoding: message.payload, as: UTF8.self))")
            return .ok("Thanks")
        default:  // syn_w_g_e, syn_wgc_e
            let status = await master.registry.worker(worker)?.status
            let start = (full ? status?.agentGroupsFullStart : status?.agentGroupsStart) ?? Date()
            let updated = ctx.log.syncResult(message.payload, since: start, tag: tag, subtag: subtag)
            let end = Date()
            await master.registry.update(worker) {
                if full { $0.status.agentGroupsFullEnd = end; $0.status.agentGroupsFullChunks = updated }
                else { $0.status.agentGroupsEnd = end; $0.status.agentGroupsChunks = updated }
            }
            return .ok("Thanks")
        }
    }
}

/// Agent-groups, worker side: apply what the master sends, then compare global hashes; after
/// `agent_groups_mismatch_limit` mismatches in a row, ask for everything (`syn_w_g_c`).
extension WorkerSession {
    func agentGroupsReceived(_ message: WireMessage) -> Reply {
        let id = String(decoding: message.payload, as: UTF8.self)
        let full = message.name == "syn_g_m_w_c"
        link.tasks.spawn { await self.applyAgentGroups(stringID: id, full: full) }
        return .ok(id)
    }

    private func applyAgentGroups(stringID: String, full: Bool) async {
        let tag = "Worker \(ctx.config.nodeName)", subtag = full ? "Agent-groups recv full" : "Agent-groups recv"
        let errorCommand = full ? "syn_wgc_err" : "syn_w_g_err"
        let start = Date()
        ctx.log.info(tag: tag, subtag: subtag, "Starting.")
        guard let bytes = await link.takeString(stringID) else {
            _ = try? await link.request(errorCommand, text: "error while trying to access string under task_id b'\(stringID)'.")
            return
        }
        let envelope: JSONValue
        do { envelope = try JSONParser.parse(bytes) } catch {
            _ = try? await link.request(errorCommand, text: "error while trying to load JSON: \(error)")
            return
        }
        let chunks = envelope["chunks"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let store = self.store
        // Each chunk is parsed once: its `data` goes to the store as it is, and the last one's `hash` is the
        // master's global hash the round is checked against.
        let pooled = await ctx.pool.result { () -> (updated: Int, errors: [String], masterHash: JSONValue?) in
            var updated = 0
            var errors: [String] = []
            var masterHash: JSONValue?
            for (i, chunk) in chunks.enumerated() {
                let first = (try? JSONParser.parse(chunk))?.arrayValue?.first
                if i == chunks.count - 1 { masterHash = first?["hash"] }
                guard let data = first?["data"] else {
                    errors.append("Error 2003 - Error in wazuhdb request: could not parse chunk")
                    continue
                }
                do {
                    _ = try store.overrideAgentGroups(data: data, syncStatus: "synced")
                    updated += 1
                } catch {
                    errors.append("Error 2003 - Error in wazuhdb request: \(error)")
                }
            }
            if full { try? store.recalculateAgentGroupHashes() }
            return (updated, errors, masterHash)
        }
        let (updated, errors, masterHash) = (try? pooled.get()) ?? (0, [pooled.errorText ?? ""], nil)
        let result: JSONValue = ["updated_chunks": .int(Int64(updated)), "error_messages": .array(errors.map { .string($0) }),
                                 "time_spent": .double(Date().timeIntervalSince(start))]
        _ = try? await link.request(full ? "syn_wgc_e" : "syn_w_g_e", text: result.pythonText)
        if full {
            agentGroupsShell.execute(agentGroups.onFullResyncReceived())
        } else if let masterHash {
            let local = try? await ctx.pool.run { try store.globalGroupHash() }
            agentGroupsShell.execute(agentGroups.onRoundApplied(masterHash: masterHash.stringValue, localHash: local.flatMap { $0 }))
        }
        ctx.log.info(tag: tag, subtag: subtag, "Finished in \(elapsed(since: start)). Updated \(updated) chunks.")
    }
}
