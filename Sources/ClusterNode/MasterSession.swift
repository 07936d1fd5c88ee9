import Common
import Foundation
import NIOCore
import Synchronization

/// One worker connection on the master: its `hello` state and the requests the master answers.
actor MasterSession {
    let master: Master
    let ip: String
    let channel: Channel
    /// This connection's number: the owner of the worker's integrity task once its `hello` is accepted.
    let id: MasterIntegrityTable.Session
    private static let nextID = Atomic<UInt64>(1)
    private(set) var link: PeerLink?
    private var name: String? {
        didSet { tagBox.withLock { $0 = name.map { "Worker \($0)" } ?? "Worker" } }
    }
    private(set) var registeredName: String?
    var integrityTimers: ShellTimers<MasterIntegrityTask.Timer>!
    var integrityShell: DirectiveShell<MasterIntegrityTask.Job, MasterIntegrityTask.Timer>!
    var agentInfo: MasterAgentInfo
    /// The differences of the current integrity check, kept for its sync.
    var pendingDiff: IntegrityDiff?
    private let tagBox = Mutex("Worker")
    /// The log tag: `Worker` before `hello`, `Worker <name>` after.
    nonisolated var tag: String { tagBox.withLock { $0 } }

    init(master: Master, ip: String, channel: Channel) {
        self.master = master
        self.ip = ip
        self.channel = channel
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
        agentInfo = MasterAgentInfo(maxBusy: master.ctx.options.timeoutAgentInfo)
    }

    nonisolated var ctx: NodeContext { master.ctx }

    func attach(_ link: PeerLink) {
        self.link = link
        integrityTimers = ShellTimers(eventLoop: channel.eventLoop, tasks: link.tasks)
        integrityShell = makeIntegrityShell(link: link)
    }

    func handle(_ message: WireMessage, link: PeerLink) async -> Reply {
        let command = message.name
        ctx.log.debug(tag: tag, subtag: "Main", "Command received: b'\(command)'")
        switch command {
        case "hello":
            return await hello(message.payload, link: link)
        case "echo-c":
            if let name { await master.registry.touch(name) }
            return .reply(command: "ok-m ", payload: message.payload)
        case "get_nodes", "get_health":
            return await master.answerQuery(message)
        default:
            // The sync and relay commands exist only for a worker whose hello was accepted; before that
            // they are unknown, as in 4.8.1.
            guard let name, await master.registry.worker(name)?.helloAccepted == true else {
                return .errText("unknown command 'b'\(command)''")
            }
            return await acceptedWorkerCommand(message, worker: name, link: link)
        }
    }

    private func acceptedWorkerCommand(_ message: WireMessage, worker name: String, link: PeerLink) async -> Reply {
        let command = message.name
        switch command {
        case "sendsync":
            let (client, json) = splitFirstSpace(message.payload)
            let origin = "\(name) (\(client))"
            link.tasks.spawn {
                let result = await self.master.sendSync.handle(json, from: origin)
                switch result {
                case .success(let reply):
                    do {
                        _ = try await link.sendString(reply, then: "sendsyn_res") { Array("\(client) \($0)".utf8) }
                    } catch {
                        self.ctx.log.error(tag: "Master", subtag: "SendSync", "Error in SendSync (parameters \(origin)): \(error)")
                    }
                case .failure(let e):
                    _ = try? await link.request("sendsyn_err", text: "\(client) \(e)")
                }
            }
            return .ok("Added request to SendSync requests queue")
        case "syn_a_w_m_p", "syn_a_w_m":
            return await agentInfoCommand(message, worker: name, link: link)
        case "syn_w_g_e", "syn_wgc_e", "syn_w_g_err", "syn_wgc_err", "syn_w_g_c":
            return await agentGroupsCommand(message, worker: name)
        case "dapi":
            return master.dapi.fromWorker(message.payload, worker: name, link: link)
        case "dapi_res", "dapi_err":
            return await master.dapi.answerReceived(message, on: link)
        case "syn_i_w_m_p", "syn_i_w_m", "syn_i_w_m_e", "syn_i_w_m_r", "capability":
            return await integrityCommand(message, worker: name, link: link)
        default:
            return .errText("unknown command 'b'\(command)''")
        }
    }

    /// `hello`: the checks of `HelloAdmission`, with a probe of a connection that already holds the name.
    private func hello(_ payload: [UInt8], link: PeerLink) async -> Reply {
        let admission: HelloAdmission
        switch HelloAdmission.parse(payload) {
        case .failure(let e): return reject(e)
        case .success(let a): admission = a
        }
        let workerName = admission.worker
        let masterName = ctx.config.nodeName
        var decision = admission.decide(nameTaken: await master.registry.contains(workerName), masterName: masterName)
        if decision == .probeHolder {
            let holder = await master.registry.worker(workerName)
            let probeTimeout = HelloAdmission.probeTimeout(requestTimeout: ctx.options.timeoutClusterRequest)
            let answered: Bool
            if let holder, case .other(command: "ok-c", _)? = try? await holder.link.request("echo-m", text: "keepalive", timeout: probeTimeout) {
                answered = true
            } else {
                answered = false
            }
            decision = admission.onProbe(holderAnswered: answered, masterName: masterName)
            if decision == .register, let holder {
                ctx.log.warning(tag: "Worker \(workerName)", subtag: "Main", "The connection that held the name \(workerName) did not answer within \(NodeContext.secondsText(probeTimeout))s; closing it for the new connection from \(ip).")
                holder.close()
                // Its integrity task passes to this session when the hello is accepted (`adopt`); until
                // then nothing the old session still does can reach it under the name.
                await master.registry.unregister(workerName, link: holder.link)
            }
        }
        if case .reject(let e) = decision { return reject(e) }
        name = workerName
        registeredName = workerName
        let channel = self.channel
        await master.registry.register(WorkerInfo(name: workerName, nodeType: admission.nodeType, version: admission.version, ip: ip, link: link,
                                                  close: { channel.close(promise: nil) }))
        if let e = admission.afterRegistering(clusterName: ctx.config.name, masterVersion: NodeContext.version) { return reject(e) }
        ctx.resetPeerDirectory(workerName)
        await link.helloAccepted(fileDirectory: "queue/cluster/\(workerName)")
        await master.integrity.adopt(workerName, session: id)
        await master.registry.accept(workerName)
        // Our workers read the capability line and answer with `capabilities`; Wazuh workers ignore it.
        return .ok("Client \(workerName) added" + Self.capabilitiesAnnouncement)
    }

    private func reject(_ e: WazuhException) -> Reply {
        ctx.log.error(tag: tag, subtag: "Main", "Internal error processing request 'b'hello'': \(e)")
        return .err(e)
    }

    func closed(error: (any Error)?) async {
        let error = error is CancellationError ? nil : error
        guard let registered = registeredName, let link else {
            if let error {
                ctx.log.error(tag: "Worker", subtag: "Main", "Error during handshake with incoming connection: \(describe(error)).")
            }
            return
        }
        registeredName = nil
        integrityTimers?.cancelAll()
        master.dapi.pending.failAll(on: link)
        // A session replaced by a new connection of the same worker no longer owns the name's state: its
        // integrity task and its package directory belong to the new session.
        let heldTheName = await master.registry.unregister(registered, link: link)
        integrityShell?.execute(await master.integrity.release(registered, session: id))
        if let error {
            ctx.log.error(tag: tag, subtag: "Main", "Error during connection with '\(registered)': \(describe(error)).")
        } else {
            ctx.log.debug(tag: tag, subtag: "Main", "Disconnected \(registered).")
        }
        ctx.log.info(tag: tag, subtag: "Main", "Cancelling pending tasks.")
        if heldTheName { ctx.resetPeerDirectory(registered) }
    }
}

func describe(_ error: any Error) -> String {
    if let e = error as? WireError {
        if case .decryptionFailed = e { return "Error 3025 - Could not decrypt message: the payload did not decrypt with this cluster key" }
        return e.description
    }
    return "\(error)"
}
