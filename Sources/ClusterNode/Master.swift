import Common
import Foundation
import NIOCore
import NIOPosix

/// The master node: accepts workers on `bind_addr:port`, checks their `hello`, answers keep-alives and
/// drops workers that stop sending them (PROTOCOL.md §3.2, §3.3, §3.5).
final class Master: Sendable {
    let ctx: NodeContext
    let registry: WorkerRegistry
    let integrity: MasterIntegrity
    let store: any AgentBackend
    let sendSync: SendSyncService
    /// The built-in registration service (authd's `add` / `remove`), also behind the DAPI's agent writes.
    let registration: RegistrationService?
    let dapi: DapiNode
    /// Workers' agent-info rounds are parsed and applied one at a time. The store applies one chunk at a
    /// time anyway; a round waiting for its turn holds only the string it was sent, not its parse too,
    /// and no pool thread sits blocked on the store's lock meanwhile.
    let agentInfoTurn = RequestSlots(1)

    init(ctx: NodeContext, store: any AgentBackend, dapi: DapiNode) {
        self.ctx = ctx
        self.store = store
        self.dapi = dapi
        let registration = RegistrationService(ctx: ctx, store: store)
        self.registration = registration
        sendSync = SendSyncService(ctx: ctx, registration: registration)
        registry = WorkerRegistry(maxSilence: ctx.options.maxAllowedTimeWithoutKeepalive)
        integrity = MasterIntegrity(ctx: ctx)
    }

    private var log: ClusterLog { ctx.log }

    func run(group: EventLoopGroup) async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: ctx.config.bindAddr, port: ctx.config.port) { channel in
                channel.eventLoop.makeCompletedFuture { try LinkPipeline.install(on: channel) }
            }
        log.info(tag: "Master", subtag: "Main", "Serving on ('\(ctx.config.bindAddr)', \(ctx.config.port))")
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.keepaliveChecker() }
            group.addTask { try await self.integrity.run() }
            group.addTask { try await self.localAgentGroupsLoop() }
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    /// Every `check_worker_lastkeepalive`, drops registered workers silent for longer than
    /// `max_allowed_time_without_keepalive`, so a half-open connection cannot hold a name forever.
    private func keepaliveChecker() async throws {
        while true {
            try await Task.sleep(nanoseconds: UInt64(ctx.options.checkWorkerLastKeepalive * 1e9))
            log.debug(tag: "Master", subtag: "Keep alive", "Calculating.")
            for (w, directives) in await registry.keepaliveCheck(now: nowSeconds()) {
                for directive in directives {
                    switch directive {
                    case .log(let level, let subtag, let text): log.log(level, tag: "Master", subtag: subtag, text)
                    case .close: w.close()
                    default: break
                    }
                }
            }
            log.debug(tag: "Master", subtag: "Keep alive", "Calculated.")
        }
    }

    private func serve(_ connection: NIOAsyncChannel<WireMessage, OutboundMessage>) async {
        let channel = connection.channel
        let address = channel.remoteAddress
        let ip = address?.ipAddress ?? "unknown"
        let port = address?.port ?? 0
        let (allowed, count) = await registry.openConnection(from: ip, limit: ctx.options.connectionsPerAddress)
        guard allowed else {
            log.warning(tag: "Master", subtag: "Main", "Too many connections from \(ip) (\(count)), rejecting.")
            try? await channel.close()
            return
        }
        log.info(tag: "Worker", subtag: "Main", "Connection from ('\(ip)', \(port))")
        let session = MasterSession(master: self, ip: ip, channel: channel)
        do {
            try await connection.executeThenClose { inbound, outbound in
                let log = ctx.log
                // Before its hello is accepted a worker may only say hello; its files land in
                // queue/cluster/<its name>/ once the name is known.
                let link = PeerLink(outbound: outbound, fernet: ctx.fernet, pool: ctx.pool, eventLoop: channel.eventLoop,
                                    remote: "\(ip):\(port)", requestTimeout: ctx.options.timeoutClusterRequest, limits: ctx.peerLimits,
                                    home: ctx.home, preHello: ["hello"],
                                    logger: { level, text in log.log(level, tag: session.tag, subtag: "Main", text) }) { message, link in
                    await session.handle(message, link: link)
                }
                await session.attach(link)
                do {
                    try await link.serve(inbound)
                    await session.closed(error: nil)
                } catch {
                    await session.closed(error: error)
                }
                await link.close()
                log.debug2(tag: session.tag, subtag: "Main", "Live session tasks: \(SessionTasks.live.load(ordering: .relaxed))")
            }
        } catch {
            await session.closed(error: error)
        }
        await registry.closeConnection(from: ip)
    }

    // MARK: local-socket and relayed queries

    /// `get_nodes` / `get_health`, asked on the master's local socket or relayed by a worker.
    func answerQuery(_ message: WireMessage) async -> Reply {
        do {
            if message.name == "get_nodes" {
                let args = message.payload.isEmpty ? JSONValue.null : try JSONParser.parse(message.payload)
                return .ok(try NodeQuery(args: args).apply(to: await nodes()).pythonText)
            }
            let filter = (try? JSONParser.parse(message.payload))?.arrayValue?.compactMap(\.stringValue)
            return .ok(await health(filter: filter).pythonText)
        } catch {
            return .err(WazuhException.wrapping(error))
        }
    }

    /// `get_nodes` (LOCAL-DAPI-CONTROL.md §2.9): the master, then workers in connection order.
    func nodes() async -> [JSONValue] {
        var items: [JSONValue] = [Self.nodeInfo(name: ctx.config.nodeName, type: "master", version: NodeContext.version, ip: ctx.config.masterAddress)]
        for w in await registry.all where w.helloAccepted {
            items.append(Self.nodeInfo(name: w.name, type: w.nodeType, version: w.version, ip: w.ip))
        }
        return items
    }

    static func nodeInfo(name: String, type: String, version: String, ip: String) -> JSONValue {
        ["name": .string(name), "type": .string(type), "version": .string(version), "ip": .string(ip)]
    }

    /// `get_health` for the given node names (nil: all).
    func health(filter: [String]?) async -> JSONValue {
        var nodes = JSONObject()
        var connected = 0
        for w in await registry.all where w.helloAccepted && (filter == nil || filter!.contains(w.name)) {
            connected += 1
            var info = Self.nodeInfo(name: w.name, type: w.nodeType, version: w.version, ip: w.ip).objectValue!
            info["n_active_agents"] = .int(Int64((try? store.countActive(nodeName: w.name)) ?? 0))
            let st = w.status
            func d(_ date: Date?) -> JSONValue { .string(NodeContext.isoDate(date)) }
            func n(_ i: Int) -> JSONValue { .int(Int64(i)) }
            let status: JSONValue = [
                "sync_integrity_free": .bool(await integrity.isFree(w.name)),
                "last_check_integrity": ["date_start_master": d(st.integrityCheckStart), "date_end_master": d(st.integrityCheckEnd)],
                "last_sync_integrity": ["date_start_master": d(st.integritySyncStart), "date_end_master": d(st.integritySyncEnd), "total_extra_valid": 0,
                                        "total_files": ["missing": n(st.filesMissing), "shared": n(st.filesShared), "extra": n(st.filesExtra), "extra_valid": 0]],
                "sync_agent_info_free": .bool(st.agentInfoFree),
                "last_sync_agentinfo": ["date_start_master": d(st.agentInfoStart), "date_end_master": d(st.agentInfoEnd), "n_synced_chunks": n(st.agentInfoChunks)],
                "last_sync_agentgroup": ["date_start": d(st.agentGroupsStart), "date_end": d(st.agentGroupsEnd), "n_synced_chunks": n(st.agentGroupsChunks)],
                "last_sync_full_agentgroup": ["date_start": d(st.agentGroupsFullStart), "date_end": d(st.agentGroupsFullEnd), "n_synced_chunks": n(st.agentGroupsFullChunks)],
                "last_keep_alive": .string(NodeContext.isoDate(await registry.lastKeepalive(w.name))),
            ]
            nodes[w.name] = ["info": .object(info), "status": status]
        }
        if filter == nil || filter!.contains(ctx.config.nodeName) {
            var info = Self.nodeInfo(name: ctx.config.nodeName, type: "master", version: NodeContext.version, ip: ctx.config.masterAddress).objectValue!
            info["n_active_agents"] = .int(Int64((try? store.countActive(nodeName: ctx.config.nodeName)) ?? 0))
            nodes[ctx.config.nodeName] = ["info": .object(info)]
        }
        return ["n_connected_nodes": .int(Int64(connected)), "nodes": .object(nodes)]
    }
}
