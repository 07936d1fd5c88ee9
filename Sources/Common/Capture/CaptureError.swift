/// Why reading a capture could not go on. Each case names the byte offset in the input so the user can
/// look at the spot with `xxd -s`.
public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input could not be opened or read (usage/IO trouble, not a decoding problem).
    case io(path: String, reason: String)
    /// The capture file ends in the middle of a header, record or block.
    case truncatedCapture(offset: Int, needed: Int, available: Int)
    /// A header or block that cannot be what the format says (bad magic, impossible length...).
    case malformed(offset: Int, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "cannot read \(path): \(reason)"
        case let .truncatedCapture(offset, needed, available):
            return "capture file truncated at byte offset \(offset): needed \(needed) bytes, \(available) available"
        case let .malformed(offset, reason):
            return "malformed capture at byte offset \(offset): \(reason)"
        }
    }

    /// True for input/output trouble (exit status 2), false for damaged data (exit status 1).
    public var isIOError: Bool {
        if case .io = self { return true }
        return false
    }
}
