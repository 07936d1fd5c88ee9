import Common
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The worker node: connects to the master, says `hello`, sends keep-alives, and reconnects after
/// `connection_retry` whenever the link is lost (PROTOCOL.md §3.1, §3.3, §3.4). Every connection starts
/// from fresh state: nothing of a previous link survives a reconnect.
final class Worker: Sendable {
    let ctx: NodeContext
    /// The link to the master while `hello` has been accepted; nil otherwise.
    private let current = Mutex<PeerLink?>(nil)

    let store: AgentStore
    let clients: LocalClients

    init(ctx: NodeContext, store: AgentStore, clients: LocalClients) {
        self.ctx = ctx
        self.store = store
        self.clients = clients
    }

    private var log: ClusterLog { ctx.log }
    private var tag: String { "Worker \(ctx.config.nodeName)" }

    /// The connected master link, if any (the local server relays through it).
    var masterLink: PeerLink? { current.withLock { $0 } }

    func run(group: EventLoopGroup) async throws {
        let retry = ctx.options.connectionRetry
        let retryText = NodeContext.secondsText(retry)
        while !Task.isCancelled {
            do {
                try await connectOnce(group: group)
                if Task.isCancelled { return }
                log.info(tag: "Cluster", subtag: "Main", "Connection with server has been lost. Reconnecting in \(retryText) seconds.")
            } catch let error as CancellationError {
                throw error
            } catch {
                if Self.isConnectionRefused(error) {
                    log.error(tag: tag, subtag: "Main", "Could not connect to master. Trying again in \(retryText) seconds.")
                } else if case ChannelError.connectTimeout = error {
                    log.error(tag: tag, subtag: "Main", "Could not connect to master: connection timed out. Trying again in \(retryText) seconds.")
                } else {
                    log.error(tag: tag, subtag: "Main", "Could not connect to master: \(error). Trying again in \(retryText) seconds.")
                }
            }
            try await Task.sleep(nanoseconds: UInt64(retry * 1e9))
        }
    }

    static func isConnectionRefused(_ error: any Error) -> Bool {
        if let e = error as? IOError { return e.errnoCode == ECONNREFUSED }
        if let e = error as? NIOConnectionError {
            return !e.connectionErrors.isEmpty && e.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        return false
    }

    private func connectOnce(group: EventLoopGroup) async throws {
        let fernet = ctx.fernet
        let connection = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: ctx.config.masterAddress, port: ctx.config.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder(fernet: fernet)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(ClusterFrameEncoder(fernet: fernet)))
                    return try NIOAsyncChannel<WireMessage, OutboundMessage>(wrappingChannelSynchronously: channel)
                }
            }
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            let log = ctx.log, tag = self.tag
            let box = LockedValue<WorkerSession?>(nil)
            let prefetch = PackagePrefetch(home: ctx.home, worker: ctx.config.nodeName, budget: ctx.receiveBudget)
            let link = PeerLink(outbound: outbound, remote: "master", requestTimeout: ctx.options.timeoutClusterRequest,
                                home: ctx.home, logger: { level, text in log.log(level, tag: tag, subtag: "Main", text) },
                                onIncomingFile: { file in prefetch.fileStarted(file) }) { message, _ in
                log.debug(tag: tag, subtag: "Main", "Command received: 'b'\(message.name)''")
                guard let session = box.value else { return .errText("unknown command 'b'\(message.name)''") }
                return await session.handle(message)
            }
            let session = WorkerSession(ctx: ctx, link: link, store: store, clients: clients, prefetch: prefetch)
            box.value = session
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await self.session(session, link: link, channel: channel)
                }
                do {
                    for try await message in inbound { await link.received(message) }
                    log.info(tag: tag, subtag: "Main", "The master closed the connection")
                } catch is CancellationError {
                    // Shutting down.
                } catch {
                    log.error(tag: tag, subtag: "Main", "Connection closed due to an unhandled error: \(describe(error))")
                }
                current.withLock { $0 = nil }
                await session.closed()
                await link.close()
                ctx.resetPeerDirectory(ctx.config.nodeName)
                group.cancelAll()
            }
        }
    }

    /// `hello`, then the periodic tasks of a connected worker until the link closes.
    private func session(_ session: WorkerSession, link: PeerLink, channel: Channel) async {
        // The package directory is ready (and empty) before the master can send anything into it.
        ctx.resetPeerDirectory(ctx.config.nodeName)
        let hello = "\(ctx.config.nodeName) \(ctx.config.name) worker \(NodeContext.version)"
        let reply: [UInt8]
        do {
            let response = try await link.request("hello", text: hello)
            guard case .ok(let bytes) = response else {
                log.error(tag: tag, subtag: "Main", "Could not connect to master: \(response.text).")
                try? await channel.close()
                return
            }
            reply = bytes
        } catch {
            log.error(tag: tag, subtag: "Main", "Could not connect to master: \((error as? LinkError)?.description ?? "\(error)").")
            try? await channel.close()
            return
        }
        log.info(tag: tag, subtag: "Main", "Successfully connected to master.")
        await session.helloAccepted(reply)
        current.withLock { $0 = link }
        // Integrity starts right after `hello` (4.8.1 waits one interval first).
        await withDiscardingTaskGroup { group in
            group.addTask { await session.integrityLoop() }
            group.addTask { await session.agentInfoLoop() }
            group.addTask { await self.keepalive(link: link, channel: channel) }
        }
    }

    /// Sends `echo-c keepalive` every `keep_alive`; after `max_failed_keepalive_attempts` consecutive
    /// failures, closes the link so the reconnect loop starts over.
    private func keepalive(link: PeerLink, channel: Channel) async {
        var failures = KeepaliveFailures(maxFailures: ctx.options.maxFailedKeepaliveAttempts)
        while !Task.isCancelled {
            do {
                try await Task.sleep(nanoseconds: UInt64(ctx.options.keepAlive * 1e9))
            } catch { return }
            do {
                let response = try await link.request("echo-c", text: "keepalive")
                if case .other(command: "ok-m", _) = response {
                    log.info(tag: tag, subtag: "Keep Alive", response.text)
                    failures.succeeded()
                    continue
                }
                log.error(tag: tag, subtag: "Keep Alive", "Error sending keep alive: \(response.text)")
            } catch {
                log.error(tag: tag, subtag: "Keep Alive", "Error sending keep alive: \((error as? LinkError)?.description ?? "\(error)")")
            }
            if failures.failed() == .disconnect {
                log.error(tag: tag, subtag: "Keep Alive", "Maximum number of failed keep alives reached. Disconnecting.")
                try? await channel.close()
                return
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
