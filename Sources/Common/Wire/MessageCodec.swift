/// A whole message after reassembly and decryption: what a handler sees.
public struct WireMessage: Equatable, Sendable {
    public var counter: UInt32
    /// The command field of the last (or only) frame.
    public var command: CommandField
    /// The plaintext payload (decrypted when the link is encrypted).
    public var payload: [UInt8]
    /// Payload bytes on the wire over all frames (the encrypted size on an encrypted link).
    public var wireLength: Int
    /// Number of frames the message arrived in.
    public var fragments: Int

    public var name: String { command.name }

    public init(counter: UInt32, command: CommandField, payload: [UInt8], wireLength: Int, fragments: Int) {
        self.counter = counter
        self.command = command
        self.payload = payload
        self.wireLength = wireLength
        self.fragments = fragments
    }
}

/// Builds the frames of one message (PROTOCOL.md §1.4): encrypt the whole plaintext once, then, if the
/// plaintext is longer than `requestChunk`, cut the token into frames of at most `requestChunk` bytes
/// (header included), flag `d` on all but the last.
public struct MessageEncoder: Sendable {
    public let fernet: Fernet?
    public var requestChunk: Int

    public init(fernet: Fernet?, requestChunk: Int = WireLimits.requestChunk) {
        self.fernet = fernet
        self.requestChunk = requestChunk
    }

    /// The wire bytes of the message: one or more frames back to back.
    public func encode(counter: UInt32, command: String, payload: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try encode(counter: counter, command: command, payload: payload, into: &out)
        return out
    }

    public func encode(counter: UInt32, command: String, payload: [UInt8], into out: inout [UInt8]) throws {
        guard let fernet else {
            try frame(counter: counter, command: command, body: payload, plaintextLength: payload.count, into: &out)
            return
        }
        guard payload.count <= requestChunk else {
            try frame(counter: counter, command: command, body: fernet.encrypt(payload), plaintextLength: payload.count, into: &out)
            return
        }
        // One frame: the token goes straight after its header, with no token buffer in between.
        let whole = try CommandField(name: command)
        let length = Fernet.tokenLength(plaintextLength: payload.count)
        guard length <= WireLimits.maxMessageSize else {
            throw WireError.payloadTooLarge(length: length, limit: WireLimits.maxMessageSize)
        }
        let header = FrameHeader(counter: counter, length: UInt32(length), command: whole).bytes
        let frameLength = WireLimits.headerSize + length
        if out.isEmpty {
            out = [UInt8](unsafeUninitializedCapacity: frameLength) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                raw.copyBytes(from: header)
                payload.withUnsafeBytes { fernet.encrypt($0, into: UnsafeMutableRawBufferPointer(rebasing: raw[WireLimits.headerSize...])) }
                initialized = frameLength
            }
        } else {
            let start = out.count + WireLimits.headerSize
            out.append(contentsOf: header)
            out.append(contentsOf: repeatElement(0, count: length))
            out.withUnsafeMutableBytes { raw in
                payload.withUnsafeBytes { fernet.encrypt($0, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...])) }
            }
        }
    }

    /// The frames of a message whose payload is already what goes on the wire (`body`: the Fernet token
    /// of `plaintextLength` bytes, or the plaintext itself on an unencrypted link).
    public func frame(counter: UInt32, command: String, body: [UInt8], plaintextLength: Int, into out: inout [UInt8]) throws {
        let whole = try CommandField(name: command)
        guard body.count <= WireLimits.maxMessageSize else {
            throw WireError.payloadTooLarge(length: body.count, limit: WireLimits.maxMessageSize)
        }
        if plaintextLength <= requestChunk {
            out.reserveCapacity(out.count + WireLimits.headerSize + body.count)
            FrameHeader(counter: counter, length: UInt32(body.count), command: whole).write(into: &out)
            out.append(contentsOf: body)
            return
        }
        let fragmentCommand = try CommandField(name: command, position: .fragment)
        let lastCommand = try CommandField(name: command, position: .lastFragment)
        let piece = requestChunk - WireLimits.headerSize
        let frames = (body.count + piece - 1) / piece
        out.reserveCapacity(out.count + frames * WireLimits.headerSize + body.count)
        var start = 0
        while start < body.count {
            let end = min(start + piece, body.count)
            let isLast = end == body.count
            FrameHeader(counter: counter, length: UInt32(end - start), command: isLast ? lastCommand : fragmentCommand)
                .write(into: &out)
            out.append(contentsOf: body[start..<end])
            start = end
        }
    }
}

/// Incremental frame parser over a byte buffer (PROTOCOL.md §1.3) with the 256 MiB length guard.
public enum FrameParser {
    /// Parses one frame at the start of `bytes`. Returns nil when more bytes are needed. Throws when the
    /// header announces more than `maxPayload` bytes, before any payload is buffered.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxPayload: Int = WireLimits.maxMessageSize) throws(WireError) -> (frame: Frame, consumed: Int)? {
        guard let header = try parseHeader(bytes, maxPayload: maxPayload) else { return nil }
        let total = WireLimits.headerSize + Int(header.length)
        guard bytes.count >= total else { return nil }
        let payload = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[WireLimits.headerSize..<total]))
        return (Frame(header: header, payload: payload), total)
    }

    /// Parses and checks a header only.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, maxPayload: Int = WireLimits.maxMessageSize) throws(WireError) -> FrameHeader? {
        guard bytes.count >= WireLimits.headerSize else { return nil }
        let header = FrameHeader(parsing: bytes, at: 0)
        guard Int(header.length) <= maxPayload else {
            throw .payloadTooLarge(length: Int(header.length), limit: maxPayload)
        }
        return header
    }
}

/// Joins the fragments of divided messages per counter (PROTOCOL.md §1.4). A pure state machine: frames in,
/// whole (still encrypted) messages out. Guards the number of messages in progress and their total size.
public struct DividedMessageAssembler: Sendable {
    struct Pending: Sendable {
        var bytes: [UInt8]
        var fragments: Int
    }

    private var pending: [UInt32: Pending] = [:]
    public let maxConcurrent: Int
    public let maxMessageSize: Int

    public init(maxConcurrent: Int = WireLimits.maxConcurrentDividedMessages, maxMessageSize: Int = WireLimits.maxMessageSize) {
        self.maxConcurrent = maxConcurrent
        self.maxMessageSize = maxMessageSize
    }

    /// Counters with a divided message in progress.
    public var inProgress: Int { pending.count }

    /// Feeds one frame. Returns the whole message (payload not yet decrypted) when it is complete.
    public mutating func accept(_ frame: Frame) throws(WireError) -> WireMessage? {
        let counter = frame.header.counter
        if frame.header.command.isDivided {
            if var entry = pending[counter] {
                pending[counter] = nil  // avoid a copy-on-write of the growing buffer
                guard entry.bytes.count + frame.payload.count <= maxMessageSize else {
                    throw .payloadTooLarge(length: entry.bytes.count + frame.payload.count, limit: maxMessageSize)
                }
                entry.bytes.append(contentsOf: frame.payload)
                entry.fragments += 1
                pending[counter] = entry
            } else {
                guard pending.count < maxConcurrent else { throw .tooManyDividedMessages(limit: maxConcurrent) }
                pending[counter] = Pending(bytes: frame.payload, fragments: 1)
            }
            return nil
        }
        if var entry = pending.removeValue(forKey: counter) {
            guard entry.bytes.count + frame.payload.count <= maxMessageSize else {
                throw .payloadTooLarge(length: entry.bytes.count + frame.payload.count, limit: maxMessageSize)
            }
            entry.bytes.append(contentsOf: frame.payload)
            return WireMessage(counter: counter, command: frame.header.command, payload: entry.bytes,
                               wireLength: entry.bytes.count, fragments: entry.fragments + 1)
        }
        return WireMessage(counter: counter, command: frame.header.command, payload: frame.payload,
                           wireLength: frame.payload.count, fragments: 1)
    }

    /// Drops every message in progress (connection reset).
    public mutating func reset() { pending.removeAll() }
}

/// Frames in, decrypted messages out: the assembler plus decryption with this link's key.
public struct MessageDecoder: Sendable {
    public let fernet: Fernet?
    public var assembler: DividedMessageAssembler

    public init(fernet: Fernet?, assembler: DividedMessageAssembler = DividedMessageAssembler()) {
        self.fernet = fernet
        self.assembler = assembler
    }

    public mutating func accept(_ frame: Frame) throws(WireError) -> WireMessage? {
        guard var message = try assembler.accept(frame) else { return nil }
        if let fernet {
            do {
                message.payload = try fernet.decrypt(message.payload)
            } catch {
                throw .decryptionFailed(reason: error.description)
            }
        }
        return message
    }
}
