import Common
import Foundation
import NIOCore
import Synchronization

/// One worker connection on the master: its `hello` state and the requests the master answers.
actor MasterSession {
    let master: Master
    let ip: String
    let channel: Channel
    private(set) var link: PeerLink?
    private var name: String? {
        didSet { tagBox.withLock { $0 = name.map { "Worker \($0)" } ?? "Worker" } }
    }
    private(set) var registeredName: String?
    var integrityTimers: ShellTimers<MasterIntegrityTask.Timer>!
    var integrityShell: DirectiveShell<MasterIntegrityTask.Job, MasterIntegrityTask.Timer>!
    /// When the worker's current integrity check started (`syn_i_w_m`).
    var checkStart = Date()
    private let tagBox = Mutex("Worker")
    /// The log tag: `Worker` before `hello`, `Worker <name>` after.
    nonisolated var tag: String { tagBox.withLock { $0 } }

    init(master: Master, ip: String, channel: Channel) {
        self.master = master
        self.ip = ip
        self.channel = channel
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
                        let id = try await link.sendString(reply)
                        _ = try await link.request("sendsyn_res", text: "\(client) \(id)")
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
            let (client, json) = splitFirstSpace(message.payload)
            let store = master.store
            let log = ctx.log
            ctx.log.info(tag: "Master", subtag: "D API", "Receiving request: get_agents_overview from \(name) (\(client))")
            link.tasks.spawn {
                switch await link.cpuResult({ AgentsOverview.answer(json, store: store) }) {
                case .success(let result):
                    if let id = try? await link.sendString(result) { _ = try? await link.request("dapi_res", text: "\(client) \(id)") }
                case .failure(let e):
                    log.error(tag: "Master", subtag: "D API", "Error in distributed API: \(e)")
                    _ = try? await link.request("dapi_err", text: "\(client) \(e.json.pythonText)")
                }
            }
            return .ok("Added request to API requests queue")
        case "syn_i_w_m_p", "syn_i_w_m", "syn_i_w_m_e", "syn_i_w_m_r", "capability":
            return await integrityCommand(message, worker: name, link: link)
        default:
            return .errText("unknown command 'b'\(command)''")
        }
    }

    /// `hello` checks in the order of PROTOCOL.md §3.2, with the 4.14.6 name pattern first.
    private func hello(_ payload: [UInt8], link: PeerLink) async -> Reply {
        let fields = String(decoding: payload, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4 else {
            let what = fields.count < 4 ? "not enough values to unpack (expected 4, got \(fields.count))"
                                        : "too many values to unpack (expected 4)"
            return reject(.internal(1000, what))
        }
        let (workerName, cluster, nodeType, version) = (fields[0], fields[1], fields[2], fields[3])
        guard NodeName.isValid(workerName) else { return reject(.cluster(3060, workerName)) }
        if await master.registry.contains(workerName) { return reject(.cluster(3028, workerName)) }
        if workerName == ctx.config.nodeName { return reject(.cluster(3029)) }
        name = workerName
        registeredName = workerName
        let channel = self.channel
        await master.registry.register(WorkerInfo(name: workerName, nodeType: nodeType, version: version, ip: ip, link: link,
                                                  close: { channel.close(promise: nil) }))
        if cluster != ctx.config.name { return reject(.cluster(3030)) }
        if version != NodeContext.version { return reject(.cluster(3031)) }
        ctx.resetPeerDirectory(workerName)
        await link.helloAccepted(fileDirectory: "queue/cluster/\(workerName)")
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
        integrityShell?.execute(await master.integrity.forget(registered))
        integrityTimers?.cancelAll()
        await master.registry.unregister(registered, link: link)
        if let error {
            ctx.log.error(tag: tag, subtag: "Main", "Error during connection with '\(registered)': \(describe(error)).")
        } else {
            ctx.log.debug(tag: tag, subtag: "Main", "Disconnected \(registered).")
        }
        ctx.log.info(tag: tag, subtag: "Main", "Cancelling pending tasks.")
        ctx.resetPeerDirectory(registered)
    }
}

func describe(_ error: any Error) -> String {
    if let e = error as? WireError {
        if case .decryptionFailed = e { return "Error 3025 - Could not decrypt message: the payload did not decrypt with this cluster key" }
        return e.description
    }
    return "\(error)"
}

/// Node names a master accepts in `hello` (4.14.6 hardening): `[A-Za-z0-9_-]+`.
enum NodeName {
    static func isValid(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }
}
