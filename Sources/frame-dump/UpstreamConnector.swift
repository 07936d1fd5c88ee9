import NIOCore
import NIOPosix

/// First handler of an accepted client connection: once the client channel is active, opens the
/// connection to the real node and links the two with `ForwardingHandler`s. The client channel does not
/// read (autoRead is off) until the link is in place, so no byte can arrive with nowhere to go.
/// Connecting from `channelActive` rather than from the child initializer matters: the accepted channel
/// is only registered with its event loop after the initializer, and a read asked for before that is lost.
final class UpstreamConnector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let target: HostPort
    private let live: LiveDecoder

    init(target: HostPort, live: LiveDecoder) {
        self.target = target
        self.live = live
    }

    func channelActive(context: ChannelHandlerContext) {
        let inbound = context.channel
        let target = self.target, live = self.live
        ClientBootstrap(group: context.eventLoop)
            .connect(host: target.host, port: target.port)
            .whenComplete { result in
                switch result {
                case .success(let outbound):
                    do {
                        try Self.link(inbound, outbound, live: live, target: target)
                    } catch {
                        inbound.close(promise: nil)
                        outbound.close(promise: nil)
                    }
                case .failure(let error):
                    Output.error("cannot connect to \(target): \(error)")
                    inbound.close(promise: nil)
                }
            }
        context.fireChannelActive()
    }

    /// Runs on the shared event loop of both channels.
    private static func link(_ inbound: Channel, _ outbound: Channel, live: LiveDecoder, target: HostPort) throws {
        let client = inbound.remoteAddress.map(ProxyCommand.text) ?? "-"
        let server = outbound.remoteAddress.map(ProxyCommand.text) ?? target.description
        let id = live.open(client: client, server: server)
        let fromClient = ForwardingHandler(tap: { live.feed(connection: id, toServer: true, bytes: $0) },
                                           onClose: { live.close(connection: id) })
        let fromServer = ForwardingHandler(tap: { live.feed(connection: id, toServer: false, bytes: $0) })
        ForwardingHandler.pair(fromClient, fromServer)
        try inbound.pipeline.syncOperations.addHandler(fromClient)
        try outbound.pipeline.syncOperations.addHandler(fromServer)
        if !inbound.isActive { outbound.close(promise: nil) }  // the client left while we connected
        inbound.setOption(.autoRead, value: true).whenFailure { _ in inbound.close(promise: nil) }
    }
}
