/// One cluster message as frame-dump reports it: where and when it travelled, its header, and its
/// payload (decrypted when the key fits).
public struct DecodedMessage: Sendable {
    /// What `payload` holds.
    public enum PayloadState: String, Sendable {
        /// Decrypted with the key: `payload` is the plaintext.
        case decrypted
        /// Not a Fernet token (the unencrypted local socket): `payload` is the wire bytes, which are the plaintext.
        case plain
        /// A Fernet token that was not decrypted (no key, or the wrong one): `payload` is the token text.
        case encrypted
    }

    /// Which way a message went, when the cluster port tells which end is the server.
    public enum Direction: String, Sendable {
        case clientToServer = "c2s"
        case serverToClient = "s2c"
    }

    /// Seconds since the epoch of the packet that completed the message; nil for raw streams.
    public var time: Double?
    /// `ip:port` of the sender and receiver, or "-" when unknown (raw streams).
    public var source = "-"
    public var destination = "-"
    /// 1-based number of the TCP connection in order of appearance; nil for raw streams.
    public var connection: Int?
    public var direction: Direction?
    /// Offset of the message's first frame in its direction's byte stream.
    public var offset: Int
    public var counter: UInt32
    /// Command field of the last (or only) frame.
    public var command: CommandField
    /// Payload bytes on the wire, over all frames.
    public var wireLength: Int
    public var fragments: Int
    /// SHA-256 (hex) of the reassembled payload as sent (the token on an encrypted link).
    public var wireSHA256: String
    public var payload: [UInt8]
    public var payloadState: PayloadState
    /// Why decryption failed, when a key was given and did not fit.
    public var decryptionError: WireError?
    /// The request's command when this message answers an earlier one (same counter, other direction).
    public var replyTo: String?

    public init(offset: Int, counter: UInt32, command: CommandField, wireLength: Int, fragments: Int,
                wireSHA256: String, payload: [UInt8], payloadState: PayloadState) {
        self.offset = offset
        self.counter = counter
        self.command = command
        self.wireLength = wireLength
        self.fragments = fragments
        self.wireSHA256 = wireSHA256
        self.payload = payload
        self.payloadState = payloadState
    }

    public var name: String { command.name }
    /// True when the message came in more than one frame (its fragments carried the `d` flag).
    public var isDivided: Bool { fragments > 1 }

    /// Plaintext length and hash, known unless the payload is still encrypted.
    public var plainLength: Int? { payloadState == .encrypted ? nil : payload.count }
    public var plainSHA256: String? {
        switch payloadState {
        case .encrypted: return nil
        case .plain: return wireSHA256
        case .decrypted: return StreamMessageDecoder.sha256Hex(payload)
        }
    }
}
