import NIOCore

/// One side of the proxy: what its channel reads is shown to the decoder and written, unchanged, to the
/// partner channel. Backpressure: when the partner cannot take more, this side stops reading.
final class ForwardingHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    private var partner: ForwardingHandler?
    private let tap: ([UInt8]) -> Void
    private let onClose: () -> Void
    private var pendingRead = false

    init(tap: @escaping ([UInt8]) -> Void, onClose: @escaping () -> Void = {}) {
        self.tap = tap
        self.onClose = onClose
    }

    /// Links two handlers; both channels must be on the same event loop.
    static func pair(_ a: ForwardingHandler, _ b: ForwardingHandler) {
        a.partner = b
        b.partner = a
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tap(Array(buffer.readableBytesView))
        partner?.send(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flushOut()
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        partner?.closeAfterPendingWrites()
        partner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Our channel's writability is the partner's permission to read.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    /// Holds back reads while the partner's socket is full.
    func read(context: ChannelHandlerContext) {
        if let partner, let partnerContext = partner.context, !partnerContext.channel.isWritable {
            pendingRead = true
            return
        }
        context.read()
    }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func send(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flushOut() { context?.flush() }

    /// Closes once what was already written has gone out (writes complete in order).
    private func closeAfterPendingWrites() {
        guard let context else { return }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
