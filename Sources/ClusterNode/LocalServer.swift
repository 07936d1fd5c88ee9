import Common
import Foundation
import NIOCore
import NIOPosix

/// The local Unix socket `queue/cluster/c-internal.sock` (LOCAL-DAPI-CONTROL.md §1): unencrypted framing,
/// one random client name per connection, `get_config`, `get_nodes`, `get_health`, `echo-c`; on a worker
/// the node queries are relayed to the master and the answer comes back as a `control_res` request.
final class LocalServer: Sendable {
    let ctx: NodeContext
    let master: Master?
    let worker: Worker?
    let clients: LocalClients
    let dapi: DapiNode

    init(ctx: NodeContext, master: Master?, worker: Worker?, clients: LocalClients, dapi: DapiNode) {
        self.ctx = ctx
        self.master = master
        self.worker = worker
        self.clients = clients
        self.dapi = dapi
    }

    func run(group: EventLoopGroup) async throws {
        let path = ctx.socketPath
        try FileManager.default.createDirectory(atPath: ctx.clusterDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        // The socket is bound under a temporary name, given mode 0660, and only then renamed into place, so
        // it is never reachable with the wider mode bind(2) creates it with.
        let staging = "\(ctx.clusterDir)/.c-internal.sock.\(getpid())"
        unlink(staging)
        let server = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: staging, cleanupExistingSocketFile: true) { channel in
                // Not encrypted; frames are still capped at the message limit and held to the payload deadline.
                channel.eventLoop.makeCompletedFuture { try LinkPipeline.install(on: channel) }
            }
        chmod(staging, 0o660)
        // rename(2) replaces a socket file left by a previous run.
        guard rename(staging, path) == 0 else {
            let e = errno
            unlink(staging)
            throw SystemCallError("rename", path: path, errno: e)
        }
        ctx.log.info(tag: "Local Server", subtag: "Main", "Serving on \(path)")
        defer { unlink(path) }
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<WireMessage, OutboundMessage>) async {
        let eventLoop = connection.channel.eventLoop
        do {
            try await connection.executeThenClose { inbound, outbound in
                let nameBox = LockedValue("")
                // No key, no files, no hello: the local socket's own commands only (file mode 0660 guards it).
                let link = PeerLink(outbound: outbound, fernet: nil, pool: ctx.pool, eventLoop: eventLoop, remote: "local",
                                    requestTimeout: ctx.options.timeoutClusterRequest, limits: ctx.peerLimits) { message, link in
                    await self.handle(message, link: link, name: nameBox.value)
                }
                let name = await clients.register(link)
                nameBox.value = name
                let tag = "Local \(name)"
                ctx.log.debug(tag: tag, subtag: "Main", "Connection received in local server.")
                do {
                    try await link.serve(inbound)
                } catch {
                    ctx.log.error(tag: tag, subtag: "Main", "Closing local connection: \(describe(error))")
                }
                await clients.unregister(name)
                await link.close()
            }
        } catch {
            ctx.log.debug(tag: "Local Server", subtag: "Main", "Local connection ended: \(error)")
        }
    }

    private func handle(_ message: WireMessage, link: PeerLink, name: String) async -> Reply {
        let tag = "Local \(name)"
        ctx.log.debug(tag: tag, subtag: "Main", "Command received: b'\(message.name)'")
        switch message.name {
        case "get_config":
            return .ok(ctx.config.json.pythonText)
        case "echo-c":
            return .reply(command: "ok-m ", payload: message.payload)
        case "get_nodes", "get_health":
            switch LocalRelay.route(message.name, isMaster: master != nil, masterConnected: worker?.masterLink != nil) {
            case .answerHere: return await master?.answerQuery(message) ?? .err(.cluster(3023))
            case .relayToMaster: return relay(message, to: link)
            case .refuse(let e): return .err(e)
            }
        case "sendsync", "sendasync":
            return sendSync(message, from: link, name: name)
        case "dapi":
            return dapi.fromLocal(message.payload, client: name, link: link)
        case "dapi_fwd" where master != nil:
            return await dapi.forwardFromLocal(message.payload, client: name, link: link)
        case "get_hash":
            let home = ctx.home
            do {
                return .ok(try await ctx.pool.run { try JSONValue.object(RulesetHash.compute(home: home)).pythonText })
            } catch {
                return .err(WazuhException.wrapping(error))
            }
        default:
            return .errText("unknown command 'b'\(message.name)''")
        }
    }

    /// `sendsync` (a C daemon's request; the answer comes later as an `ok`/`err` request) and `sendasync`
    /// (answered at once). On a worker they go to the master; on the master (where 4.8.1 refuses them)
    /// they are served directly, so tools can register agents through any node.
    private func sendSync(_ message: WireMessage, from link: PeerLink, name: String) -> Reply {
        let isAsync = message.name == "sendasync"
        let timeout = ctx.options.timeoutClusterRequest
        if let master {
            let payload = message.payload
            let origin = "\(ctx.config.nodeName) (\(name))"
            link.tasks.spawn {
                let result = await master.sendSync.handle(payload, from: origin)
                if !isAsync { deliverSendSync(result, to: link, timeout: timeout) }
            }
        } else {
            // A registration that cannot reach the master is answered as authd answers its own
            // failures, so the enrolling client gets a clear authd-style error instead of a bare `err`.
            let isAuthd = (try? JSONParser.parse(message.payload))?["daemon_name"]?.stringValue == "authd"
            let fail: @Sendable (WazuhException) -> Void = { e in
                guard !isAsync else { return }
                if isAuthd {
                    deliverSendSync(.success(Array(RegistrationService.reply(error: 9001, "Cannot communicate with the master: \(e)").utf8)), to: link, timeout: timeout)
                } else {
                    deliverSendSync(.failure(e), to: link, timeout: timeout)
                }
            }
            guard let masterLink = worker?.masterLink else {
                if isAuthd { fail(.cluster(3023)); return isAsync ? .ok("Added request to sendsync requests queue") : .none }
                return .err(.cluster(3023))
            }
            let payload = Array("\(name) ".utf8) + message.payload
            link.tasks.spawn {
                do {
                    let response = try await masterLink.request("sendsync", payload)
                    if case .err(let e) = response { fail(e) }
                } catch {
                    fail(WazuhException.wrapping(error))
                }
            }
        }
        return isAsync ? .ok("Added request to sendsync requests queue") : .none
    }

    /// Worker: answer at once, forward to the master, and deliver its reply as `control_res` (or its error
    /// as `err`, so the local client hears about it instead of timing out as 4.8.1 does).
    private func relay(_ message: WireMessage, to local: PeerLink) -> Reply {
        guard let masterLink = worker?.masterLink else { return .err(.cluster(3023)) }
        let command = message.name
        let payload = message.payload
        local.tasks.spawn {
            let (command, payload) = LocalRelay.delivery(await masterLink.outcome(command, payload))
            _ = try? await local.request(command, payload)
        }
        return .ok("Sent request to master node")
    }
}
