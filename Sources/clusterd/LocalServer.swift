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

    init(ctx: NodeContext, master: Master?, worker: Worker?) {
        self.ctx = ctx
        self.master = master
        self.worker = worker
    }

    func run(group: EventLoopGroup) async throws {
        let path = ctx.socketPath
        try FileManager.default.createDirectory(atPath: ctx.clusterDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        // A socket file left by a previous run would make bind fail; nothing else lives at this path.
        unlink(path)
        let server = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The local socket is not encrypted; frames are still capped at the message limit.
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder(fernet: nil)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(ClusterFrameEncoder(fernet: nil)))
                    return try NIOAsyncChannel<WireMessage, OutboundMessage>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(path, 0o660)
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
        let name = String(Int.random(in: 0..<(1 << 20)))
        let tag = "Local \(name)"
        ctx.log.debug(tag: tag, subtag: "Main", "Connection received in local server.")
        do {
            try await connection.executeThenClose { inbound, outbound in
                let link = PeerLink(outbound: outbound, remote: tag, requestTimeout: ctx.options.timeoutClusterRequest) { message, link in
                    await self.handle(message, link: link, tag: tag)
                }
                do {
                    for try await message in inbound { await link.received(message) }
                } catch {
                    ctx.log.error(tag: tag, subtag: "Main", "Closing local connection: \(describe(error))")
                }
                await link.close()
            }
        } catch {
            ctx.log.debug(tag: tag, subtag: "Main", "Local connection ended: \(error)")
        }
    }

    private func handle(_ message: WireMessage, link: PeerLink, tag: String) async -> Reply {
        ctx.log.debug(tag: tag, subtag: "Main", "Command received: b'\(message.name)'")
        switch message.name {
        case "get_config":
            return .ok(ctx.config.json.pythonText)
        case "echo-c":
            return .reply(command: "ok-m ", payload: message.payload)
        case "get_nodes", "get_health":
            if let master {
                return await answerOnMaster(master, message)
            }
            return relay(message, to: link)
        default:
            return .errText("unknown command 'b'\(message.name)''")
        }
    }

    private func answerOnMaster(_ master: Master, _ message: WireMessage) async -> Reply {
        do {
            if message.name == "get_nodes" {
                let args = message.payload.isEmpty ? JSONValue.null : try JSONParser.parse(message.payload)
                return .ok(try NodeQuery(args: args).apply(to: await master.nodes()).pythonText)
            }
            let filter = (try? JSONParser.parse(message.payload))?.arrayValue?.compactMap(\.stringValue)
            return .ok(await master.health(filter: filter).pythonText)
        } catch let e as WazuhException {
            return .err(e)
        } catch {
            return .err(.internal(1000, "\(error)"))
        }
    }

    /// Worker: answer at once, forward to the master, and deliver its reply as `control_res` (or its error
    /// as `err`, so the local client hears about it instead of timing out as 4.8.1 does).
    private func relay(_ message: WireMessage, to local: PeerLink) -> Reply {
        guard let masterLink = worker?.masterLink else { return .err(.cluster(3023)) }
        let command = message.name
        let payload = message.payload
        Task {
            do {
                let response = try await masterLink.request(command, payload)
                switch response {
                case .ok(let bytes): _ = try? await local.request("control_res", bytes)
                case .err(let e): _ = try? await local.request("err", e.payload)
                case .other: _ = try? await local.request("err", WazuhException.cluster(3016, response.text).payload)
                }
            } catch {
                let e = (error as? LinkError)?.exception ?? WazuhException.internal(1000, "\(error)")
                _ = try? await local.request("err", e.payload)
            }
        }
        return .ok("Sent request to master node")
    }
}
