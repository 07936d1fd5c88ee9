import Crypto

/// Turns one direction's byte stream into messages, fed in chunks as they arrive.
///
/// Framing and reassembly are the wire codec's (`FrameParser`, `MessageDecoder`). The decoder runs
/// without a key and decryption happens here instead, so that a payload that does not decrypt is kept
/// (shown encrypted) rather than lost with the error: a dump with the wrong key still shows every header.
public struct StreamMessageDecoder: Sendable {
    private let fernet: Fernet?
    private let maxPayload: Int
    private var decoder = MessageDecoder(fernet: nil)
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Stream offset of `buffer[readIndex]`: bytes framed so far.
    public private(set) var consumed = 0
    /// Stream offset of the first frame of each divided message in progress.
    private var dividedStarts: [UInt32: (offset: Int, fragments: Int)] = [:]
    /// Set once decoding failed; later input is ignored.
    public private(set) var stop: StreamStop?
    /// True while looking for the first frame header of a stream picked up mid-connection.
    public private(set) var synchronizing = false
    /// Bytes dropped before the first frame header when synchronizing.
    public private(set) var skipped = 0

    public init(fernet: Fernet?, maxPayload: Int = WireLimits.maxMessageSize) {
        self.fernet = fernet
        self.maxPayload = maxPayload
    }

    /// Bytes received but not yet framed.
    public var buffered: Int { buffer.count - readIndex }

    /// The stream does not start at a frame boundary (no SYN was captured): look for the first header
    /// (`FrameSync`) before decoding. Only meaningful before any byte was fed.
    public mutating func startMidStream() {
        if consumed == 0 && buffer.isEmpty { synchronizing = true }
    }

    /// Appends bytes and returns the messages they complete.
    public mutating func feed<C: Collection>(_ bytes: C) -> [DecodedMessage] where C.Element == UInt8 {
        guard stop == nil else { return [] }
        buffer.append(contentsOf: bytes)
        if synchronizing { synchronize() }
        var out: [DecodedMessage] = []
        while stop == nil && !synchronizing {
            let before = consumed
            if let message = nextMessage() { out.append(message) }
            if consumed == before { break }  // no whole frame left; a fragment consumes without a message
        }
        // Reclaim consumed space; cheap when everything was consumed, amortised otherwise.
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            readIndex = 0
        } else if readIndex > 1 << 20 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        return out
    }

    private mutating func synchronize() {
        let result = FrameSync.firstHeader(in: buffer, from: readIndex, maxPayload: maxPayload)
        let start: Int
        switch result {
        case .found(let p): start = p; synchronizing = false
        case .needMore(let p): start = p
        }
        skipped += start - readIndex
        consumed += start - readIndex
        readIndex = start
    }

    /// Stops decoding for a reason found outside the byte stream (a hole in a capture).
    public mutating func halt(_ reason: StreamStop.Reason, at offset: Int? = nil) {
        if stop == nil { stop = StreamStop(offset: offset ?? consumed, reason: reason) }
    }

    /// Call at the end of the stream: a partial frame or an unfinished divided message is a truncation.
    public mutating func finish() -> StreamStop? {
        if let stop { return stop }
        let left = buffered
        if synchronizing {
            if left > 0 || skipped > 0 {
                stop = StreamStop(offset: consumed, reason: .noFrameHeader(skipped: skipped + left))
            }
            return stop
        }
        if left > 0 {
            var needed = WireLimits.headerSize
            if left >= WireLimits.headerSize {
                let header = FrameHeader(parsing: buffer, at: readIndex)
                needed += Int(header.length)
            }
            stop = StreamStop(offset: consumed, reason: .wire(.truncated(offset: consumed, needed: needed, available: left)))
        } else if let first = dividedStarts.min(by: { $0.value.offset < $1.value.offset }) {
            stop = StreamStop(offset: first.value.offset,
                              reason: .dividedIncomplete(counter: first.key, fragments: first.value.fragments))
        }
        return stop
    }

    private mutating func nextMessage() -> DecodedMessage? {
        let frameOffset = consumed
        let from = readIndex, limit = maxPayload
        let parsed = buffer.withUnsafeBytes { all in
            Result { () throws(WireError) in
                try FrameParser.parse(UnsafeRawBufferPointer(rebasing: all[from...]), maxPayload: limit)
            }
        }
        let frame: Frame, length: Int
        switch parsed {
        case .failure(let error):
            stop = StreamStop(offset: frameOffset, reason: .wire(error))
            return nil
        case .success(nil):
            return nil
        case .success(let found?):
            (frame, length) = found
        }
        readIndex += length
        consumed += length
        let counter = frame.header.counter
        let assembled: WireMessage?
        do {
            assembled = try decoder.accept(frame)
        } catch {
            stop = StreamStop(offset: frameOffset, reason: .wire(error))
            return nil
        }
        guard let whole = assembled else {
            let start = dividedStarts[counter]
            dividedStarts[counter] = (start?.offset ?? frameOffset, (start?.fragments ?? 0) + 1)
            return nil
        }
        let start = dividedStarts.removeValue(forKey: counter)?.offset ?? frameOffset
        return makeMessage(whole, offset: start)
    }

    private func makeMessage(_ whole: WireMessage, offset: Int) -> DecodedMessage {
        var message = DecodedMessage(offset: offset, counter: whole.counter, command: whole.command,
                                     wireLength: whole.wireLength, fragments: whole.fragments,
                                     wireSHA256: Self.sha256Hex(whole.payload),
                                     payload: whole.payload, payloadState: .plain)
        if let fernet {
            do {
                message.payload = try fernet.decrypt(whole.payload)
                message.payloadState = .decrypted
            } catch {
                message.decryptionError = WireError.decryptionFailed(reason: error.description)
                message.payloadState = FernetToken.looksLikeToken(whole.payload) ? .encrypted : .plain
            }
        } else if FernetToken.looksLikeToken(whole.payload) {
            message.payloadState = .encrypted
        }
        return message
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: bytes) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Recognises a Fernet token without the key: base64url text whose first decoded byte is the 0x80
/// version, so its text starts with `gA`, and at least as long as the token of an empty plaintext.
public enum FernetToken {
    public static func looksLikeToken(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= Fernet.tokenLength(plaintextLength: 0), bytes.count % 4 == 0,
              bytes[0] == UInt8(ascii: "g"), bytes[1] == UInt8(ascii: "A")
        else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "="):
                return true
            default:
                return false
            }
        }
    }
}
