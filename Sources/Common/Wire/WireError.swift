/// Errors of the framing layer. Each names the limit or the field that was wrong, so a log line or a
/// `frame-dump` message says what happened without a debugger. The Wazuh error code (PROTOCOL.md §1.6, §1.8)
/// is kept so the error can be sent to a peer as the exception JSON.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A command name longer than the 11 bytes the 12-byte command field can hold (3024).
    case commandTooLong(name: String, bytes: Int)
    /// A command name that is empty or holds a space or non-ASCII byte, which the field cannot carry.
    case invalidCommandName(String)
    /// A header announced (or reassembly reached) more than `Limits.maxMessageSize` bytes (3050).
    case payloadTooLarge(length: Int, limit: Int)
    /// More divided messages in progress at once than `Limits.maxConcurrentDividedMessages` (3051).
    case tooManyDividedMessages(limit: Int)
    /// The payload is not a Fernet token made with this key, or is damaged (3025).
    case decryptionFailed(reason: String)
    /// The stream ended in the middle of a header or payload.
    case truncated(offset: Int, needed: Int, available: Int)
    /// A started payload was not completed in time (hardening deadline, §1.8).
    case incompletePayloadDeadline(seconds: Double)

    public var code: Int {
        switch self {
        case .commandTooLong, .invalidCommandName: return 3024
        case .payloadTooLarge: return 3050
        case .tooManyDividedMessages: return 3051
        case .decryptionFailed: return 3025
        case .truncated, .incompletePayloadDeadline: return 3000
        }
    }

    public var description: String {
        switch self {
        case let .commandTooLong(name, bytes):
            return "command name '\(name)' is \(bytes) bytes; the command field allows at most 11 (error 3024)"
        case let .invalidCommandName(name):
            return "command name '\(name)' is empty or contains a space or a non-ASCII byte (error 3024)"
        case let .payloadTooLarge(length, limit):
            return "payload of \(length) bytes exceeds the \(limit)-byte message limit (error 3050)"
        case let .tooManyDividedMessages(limit):
            return "more than \(limit) divided messages in progress at once (error 3051)"
        case let .decryptionFailed(reason):
            return "could not decrypt message: \(reason) (error 3025)"
        case let .truncated(offset, needed, available):
            return "stream truncated at byte offset \(offset): needed \(needed) bytes, \(available) available"
        case let .incompletePayloadDeadline(seconds):
            return "incomplete message payload not received within \(seconds) s deadline"
        }
    }
}

/// Protocol constants (PROTOCOL.md §1.4, §1.8, §11).
public enum WireLimits {
    /// Bytes in a frame header.
    public static let headerSize = 20
    /// Longest command name the 12-byte field holds.
    public static let maxCommandLength = 11
    /// `request_chunk`: largest frame (header included) of a divided message, and the plaintext size above
    /// which a message is divided.
    public static let requestChunk = 5_242_880
    /// Largest payload announced in a header or reached by reassembly (4.14.5 `MAX_TOTAL_SIZE`).
    public static let maxMessageSize = 268_435_456
    /// Largest number of divided messages in progress on one connection (4.14.5).
    public static let maxConcurrentDividedMessages = 10
    /// Seconds a started payload may take to complete (4.14.7 `PRE_AUTH_PAYLOAD_TIMEOUT`).
    public static let payloadDeadlineSeconds = 30.0
}
