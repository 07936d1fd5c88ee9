/// Why decoding of one direction's byte stream stopped before its end, and where.
public struct StreamStop: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable, CustomStringConvertible {
        /// The framing layer refused the bytes (oversized header, truncated frame, too many divided
        /// messages); the description is the wire codec's own.
        case wire(WireError)
        /// The stream ended while a divided message still waited for its last fragment.
        case dividedIncomplete(counter: UInt32, fragments: Int)
        /// TCP segments are missing from the capture, so the bytes after the hole cannot be framed.
        case missingSegments(missing: Int)
        /// The capture kept only part of a packet (snaplen): its payload is incomplete.
        case packetCut(captured: Int, announced: Int)
        /// A stream picked up mid-connection in which no frame header could be found.
        case noFrameHeader(skipped: Int)

        public var description: String {
            switch self {
            case .wire(let error):
                return error.description
            case let .dividedIncomplete(counter, fragments):
                return "stream ended inside divided message \(counter) after \(fragments) fragment(s)"
            case .missingSegments(let missing):
                return "\(missing) bytes of TCP payload are missing from the capture"
            case let .packetCut(captured, announced):
                return "a packet was cut by the capture's snaplen: \(captured) of \(announced) payload bytes kept"
            case .noFrameHeader(let skipped):
                return "no frame header found in the \(skipped) bytes captured after the connection started"
            }
        }
    }

    /// Offset in that direction's byte stream where decoding stopped.
    public var offset: Int
    public var reason: Reason

    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "decoding stopped at byte offset \(offset): \(reason)" }
}
