import NIOCore

/// A message to send: the codec encrypts and divides it.
public struct OutboundMessage: Sendable {
    public var counter: UInt32
    public var command: String
    public var payload: [UInt8]
    /// Set when `payload` is already the Fernet token of a plaintext of this many bytes (the link
    /// encrypts large payloads off the event loop); the codec then only divides it into frames.
    public var encryptedPlaintextLength: Int?

    public init(counter: UInt32, command: String, payload: [UInt8]) {
        self.counter = counter
        self.command = command
        self.payload = payload
    }

    /// A message whose payload is already encrypted: `token` is the Fernet token of `plaintextLength` bytes.
    public init(counter: UInt32, command: String, encryptedPayload token: [UInt8], plaintextLength: Int) {
        self.counter = counter
        self.command = command
        self.payload = token
        self.encryptedPlaintextLength = plaintextLength
    }

    public init(counter: UInt32, command: String, text: String) {
        self.init(counter: counter, command: command, payload: Array(text.utf8))
    }
}

/// `ByteToMessageDecoder` for cluster links: frames → reassembled, decrypted `WireMessage`s.
/// A header over the size limit throws before its payload is buffered, so the channel closes early.
public struct ClusterFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = WireMessage

    private var decoder: MessageDecoder
    private let maxPayload: Int
    private let payloadDeadline: TimeAmount?
    private var deadlineTask: Scheduled<Void>?

    /// `payloadDeadline`: once a header is read, the rest of its payload must arrive within this time or
    /// the channel is closed (4.14.7 hardening against slow-drip connections holding buffers).
    /// `directPayloadThreshold`: see `defaultDirectPayloadThreshold` (the fuzz harness lowers it).
    public init(fernet: Fernet?, maxPayload: Int = WireLimits.maxMessageSize, payloadDeadline: TimeAmount? = nil,
                directPayloadThreshold: Int = ClusterFrameDecoder.defaultDirectPayloadThreshold) {
        self.decoder = MessageDecoder(fernet: fernet)
        self.maxPayload = maxPayload
        self.payloadDeadline = payloadDeadline
        self.directPayloadThreshold = directPayloadThreshold
    }

    /// A payload at least this large is gathered in an array of its exact size as its bytes arrive,
    /// instead of in NIO's cumulation buffer: that buffer grows by doubling and is then copied out, so a
    /// 1.4 MB frame cost about 2 MB of buffer plus its 1.4 MB copy on every link that sent one at once.
    public static let defaultDirectPayloadThreshold = 64 << 10
    private let directPayloadThreshold: Int

    /// The payload being gathered, once its header was read (see `defaultDirectPayloadThreshold`).
    private var partial: (header: FrameHeader, payload: [UInt8])?

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if var p = partial {
            partial = nil  // the array is appended to uniquely referenced
            let n = min(buffer.readableBytes, Int(p.header.length) - p.payload.count)
            buffer.withUnsafeReadableBytes { p.payload.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            buffer.moveReaderIndex(forwardBy: n)
            guard p.payload.count == Int(p.header.length) else {
                partial = p
                return .needMoreData
            }
            try deliver(Frame(header: p.header, payload: p.payload), context: context)
            return .continue
        }
        let maxPayload = self.maxPayload
        let header = try buffer.withUnsafeReadableBytes { bytes throws(WireError) in
            try FrameParser.parseHeader(bytes, maxPayload: maxPayload)
        }
        guard let header else { return .needMoreData }
        let total = WireLimits.headerSize + Int(header.length)
        guard buffer.readableBytes >= total else {
            if let payloadDeadline, deadlineTask == nil {
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                deadlineTask = context.eventLoop.scheduleTask(in: payloadDeadline) {
                    let seconds = Double(payloadDeadline.nanoseconds) / 1e9
                    bound.value.fireErrorCaught(WireError.incompletePayloadDeadline(seconds: seconds))
                    bound.value.close(promise: nil)
                }
            }
            if Int(header.length) >= directPayloadThreshold {
                buffer.moveReaderIndex(forwardBy: WireLimits.headerSize)
                var payload: [UInt8] = []
                payload.reserveCapacity(Int(header.length))
                partial = (header, payload)
                return .continue  // takes what has arrived of the payload
            }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: WireLimits.headerSize)
        try deliver(Frame(header: header, payload: buffer.readBytes(length: Int(header.length))!), context: context)
        return .continue
    }

    private mutating func deliver(_ frame: Frame, context: ChannelHandlerContext) throws {
        deadlineTask?.cancel()
        deadlineTask = nil
        if let message = try decoder.accept(frame) {
            context.fireChannelRead(wrapInboundOut(message))
        }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// `MessageToByteEncoder` for cluster links: `OutboundMessage` → encrypted, divided frames.
public struct ClusterFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = OutboundMessage
    private let encoder: MessageEncoder

    public init(fernet: Fernet?, requestChunk: Int = WireLimits.requestChunk) {
        self.encoder = MessageEncoder(fernet: fernet, requestChunk: requestChunk)
    }

    public func encode(data: OutboundMessage, out: inout ByteBuffer) throws {
        var bytes: [UInt8] = []
        if let plaintextLength = data.encryptedPlaintextLength {
            try encoder.frame(counter: data.counter, command: data.command, body: data.payload, plaintextLength: plaintextLength, into: &bytes)
        } else {
            try encoder.encode(counter: data.counter, command: data.command, payload: data.payload, into: &bytes)
        }
        out.writeBytes(bytes)
    }
}
