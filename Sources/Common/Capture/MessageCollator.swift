/// Cross-message bookkeeping done in the order messages are reported: marks responses and words the
/// one wrong-key warning.
///
/// A message is a response when an earlier message of the other direction of the same connection used
/// the same counter (PROTOCOL.md §1.5: responses reuse the request's counter). Each request is answered
/// once, so a matched request is forgotten.
public struct MessageCollator: Sendable {
    struct Sender: Hashable {
        var connection: Int
        var endpoint: String
    }

    private var openRequests: [Sender: [UInt32: String]] = [:]
    private var warnedAboutKey = false

    public init() {}

    /// Sets `replyTo` on a response. Returns a warning the first time a payload does not decrypt.
    public mutating func annotate(_ message: inout DecodedMessage) -> String? {
        if let connection = message.connection {
            let peer = Sender(connection: connection, endpoint: message.destination)
            if let request = openRequests[peer]?.removeValue(forKey: message.counter) {
                message.replyTo = request
            } else {
                openRequests[Sender(connection: connection, endpoint: message.source), default: [:]][message.counter] = message.name
            }
        }
        guard let error = message.decryptionError, !warnedAboutKey else { return nil }
        warnedAboutKey = true
        return "payloads do not decrypt with this key (message \(message.counter) '\(message.name)'"
            + " from \(message.source): \(error)); headers are still decoded and payloads shown as sent"
    }

    /// Forgets the requests of a connection that ended.
    public mutating func forget(connection: Int) {
        openRequests = openRequests.filter { $0.key.connection != connection }
    }
}
