import Common
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The worker node: connects to the master, says `hello`, sends keep-alives, and reconnects whenever the
/// link is lost (PROTOCOL.md §3.1, §3.3, §3.4), with a short backoff that rises to `connection_retry`
/// (`ReconnectBackoff`). Every connection starts from fresh state: nothing of a previous link survives a
/// reconnect.
final class Worker: Sendable {
    let ctx: NodeContext
    /// The link to the master while `hello` has been accepted; nil otherwise.
    private let current = Mutex<PeerLink?>(nil)

    let store: any AgentBackend
    let clients: LocalClients
    let dapi: DapiNode

    init(ctx: NodeContext, store: any AgentBackend, clients: LocalClients, dapi: DapiNode) {
        self.ctx = ctx
        self.store = store
        self.clients = clients
        self.dapi = dapi
    }

    private var log: ClusterLog { ctx.log }
    private var tag: String { "Worker \(ctx.config.nodeName)" }

    /// The connected master link, if any (the local server relays through it).
    var masterLink: PeerLink? { current.withLock { $0 } }

    func run(group: EventLoopGroup) async throws {
        var connection = WorkerConnection(nodeName: ctx.config.nodeName, clusterName: ctx.config.name, connectionRetry: ctx.options.connectionRetry)
        while !Task.isCancelled {
            let next: (delay: Double, line: WorkerConnection.Line)
            do {
                try await connectOnce(group: group, connection: &connection)
                if Task.isCancelled { return }
                next = connection.onLost()
            } catch let error as CancellationError {
                throw error
            } catch {
                let failure: WorkerConnection.ConnectFailure
                if Self.isConnectionRefused(error) {
                    failure = .refused
                } else if case ChannelError.connectTimeout = error {
                    failure = .timedOut
                } else {
                    failure = .other("\(error)")
                }
                next = connection.onConnectFailed(failure)
            }
            write(next.line)
            try await Task.sleep(nanoseconds: UInt64(next.delay * 1e9))
        }
    }

    private func write(_ line: WorkerConnection.Line) {
        log.log(line.level, tag: line.tag == .cluster ? "Cluster" : tag, subtag: "Main", line.text)
    }

    static func isConnectionRefused(_ error: any Error) -> Bool {
        if let e = error as? IOError { return e.errnoCode == ECONNREFUSED }
        if let e = error as? NIOConnectionError {
            return !e.connectionErrors.isEmpty && e.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        return false
    }

    private func connectOnce(group: EventLoopGroup, connection machine: inout WorkerConnection) async throws {
        let connection = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: ctx.config.masterAddress, port: ctx.config.port) { channel in
                channel.eventLoop.makeCompletedFuture { try LinkPipeline.install(on: channel) }
            }
        let channel = connection.channel
        let accepted = LockedValue(false)
        defer { machine.onSessionEnded(helloAccepted: accepted.value) }
        try await connection.executeThenClose { inbound, outbound in
            let log = ctx.log, tag = self.tag
            let box = LockedValue<WorkerSession?>(nil)
            let prefetch = PackagePrefetch(home: ctx.home, worker: ctx.config.nodeName, budget: ctx.receiveBudget, pool: ctx.pool)
            // The master's files land in queue/cluster/<this worker>/, where 4.8.1 masters send them too.
            let link = PeerLink(outbound: outbound, fernet: ctx.fernet, pool: ctx.pool, eventLoop: channel.eventLoop,
                                remote: "master", requestTimeout: ctx.options.timeoutClusterRequest, limits: ctx.peerLimits,
                                home: ctx.home, fileDirectory: "queue/cluster/\(ctx.config.nodeName)",
                                logger: { level, text in log.log(level, tag: tag, subtag: "Main", text) },
                                onIncomingFile: { file in prefetch.fileStarted(file) }) { message, _ in
                log.debug(tag: tag, subtag: "Main", "Command received: 'b'\(message.name)''")
                guard let session = box.value else { return .errText("unknown command 'b'\(message.name)''") }
                return await session.handle(message)
            }
            let session = WorkerSession(ctx: ctx, link: link, store: store, clients: clients, dapi: dapi, prefetch: prefetch, eventLoop: channel.eventLoop)
            box.value = session
            try await withThrowingDiscardingTaskGroup { group in
                let hello = machine.onConnected()
                let handshake = machine
                group.addTask {
                    await self.session(session, link: link, channel: channel, hello: hello, handshake: handshake, accepted: accepted)
                }
                do {
                    try await link.serve(inbound)
                    log.info(tag: tag, subtag: "Main", "The master closed the connection")
                } catch is CancellationError {
                    // Shutting down.
                } catch {
                    log.error(tag: tag, subtag: "Main", "Connection closed due to an unhandled error: \(describe(error))")
                }
                current.withLock { $0 = nil }
                group.cancelAll()
                await session.closed()
                await link.close()
                ctx.resetPeerDirectory(ctx.config.nodeName)
            }
            log.debug2(tag: tag, subtag: "Main", "Live session tasks: \(SessionTasks.live.load(ordering: .relaxed))")
        }
    }

    /// `hello`, then the periodic tasks of a connected worker until the link closes.
    private func session(_ session: WorkerSession, link: PeerLink, channel: Channel, hello: (command: String, payload: [UInt8]),
                         handshake: WorkerConnection, accepted: LockedValue<Bool>) async {
        // The package directory is ready (and empty) before the master can send anything into it.
        ctx.resetPeerDirectory(ctx.config.nodeName)
        var handshake = handshake
        let outcome = await link.outcome(hello.command, hello.payload)
        let (ok, line) = handshake.onHelloResponse(outcome)
        guard ok, case .success(.ok(let reply)) = outcome else {
            write(line)
            try? await channel.close()
            return
        }
        accepted.value = true
        // Local requests are relayed from the moment the master accepted us (before the line is written,
        // so whoever waits for the line can use the link at once).
        current.withLock { $0 = link }
        write(line)
        await session.helloAccepted(reply)
        await session.start()
        await keepalive(link: link, channel: channel)
    }

    /// The keep-alive machine's shell (`WorkerKeepalive`): `echo-c keepalive` every `keep_alive`; after
    /// `max_failed_keepalive_attempts` consecutive failures the link is closed so the reconnect loop
    /// starts over.
    private func keepalive(link: PeerLink, channel: Channel) async {
        var machine = WorkerKeepalive(interval: ctx.options.keepAlive, maxFailures: ctx.options.maxFailedKeepaliveAttempts)
        var pending = machine.onConnected()
        while !pending.isEmpty {
            switch pending.removeFirst() {
            case .arm(let timer, let after):
                do { try await Task.sleep(nanoseconds: UInt64(after * 1e9)) } catch { return }
                pending += machine.onTimer(timer)
            case .request(let command, let payload):
                pending += machine.onResponse(await link.outcome(command, payload))
            case .log(let level, let subtag, let text):
                log.log(level, tag: tag, subtag: subtag, text)
            case .close:
                try? await channel.close()
                return
            case .cancel, .run:
                break
            }
        }
    }
}

/// A value shared with a closure created before the value is known (a link's request handler and the
/// session or client name made after the link).
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
