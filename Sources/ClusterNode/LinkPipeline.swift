import Common
import NIOCore

/// The channel handlers of every cluster connection: frames in and out, divided messages joined, the
/// 256 MiB guard, and the payload-completion deadline (a peer that starts a frame must finish it within
/// `WireLimits.payloadDeadlineSeconds`, on node links and the local socket alike). Encryption is not
/// here: the link does it, off the event loop for large payloads.
enum LinkPipeline {
    static func install(on channel: any Channel) throws -> NIOAsyncChannel<WireMessage, OutboundMessage> {
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(ClusterFrameDecoder(fernet: nil, payloadDeadline: .seconds(Int64(WireLimits.payloadDeadlineSeconds)))))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(ClusterFrameEncoder(fernet: nil)))
        return try NIOAsyncChannel<WireMessage, OutboundMessage>(wrappingChannelSynchronously: channel)
    }
}
