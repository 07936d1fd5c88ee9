/// Finds where frames start in a stream picked up mid-connection (the capture began after the SYN, as
/// it usually does for the one long-lived worker connection). Nothing in the framing marks a boundary,
/// so a position is taken as a header when its 12-byte command field has the shape senders produce
/// (name, space padding, dashes, flag byte) and the frame after it, if it fits in what is buffered,
/// starts with such a header too.
public enum FrameSync {
    public enum Result: Equatable, Sendable {
        /// A header starts at this index.
        case found(Int)
        /// Undecided from this index on: more bytes are needed.
        case needMore(Int)
    }

    /// True when `bytes[at..<at+20]` looks like a header announcing at most `maxPayload` bytes.
    static func plausibleHeader(_ bytes: [UInt8], at p: Int, maxPayload: Int) -> Bool {
        guard p + WireLimits.headerSize <= bytes.count else { return false }
        let header = FrameHeader(parsing: bytes, at: p)
        guard Int(header.length) <= maxPayload else { return false }
        let field = header.command.bytes
        var i = 0
        while i < 11, isNameByte(field[i]) { i += 1 }
        guard i > 0 else { return false }
        // One space, or two for the `ok ` / `ok-m ` replies; an 11-byte name has none left.
        var spaces = 0
        while i < 11, field[i] == 0x20, spaces < 2 { i += 1; spaces += 1 }
        guard spaces > 0 || i == 11 else { return false }
        while i < 11, field[i] == UInt8(ascii: "-") { i += 1 }
        guard i == 11 else { return false }
        return [UInt8(ascii: "-"), UInt8(ascii: " "), UInt8(ascii: "d")].contains(field[11])
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D || (b >= 0x41 && b <= 0x5A)
    }

    /// Scans `bytes[from...]`. At the end of the stream (`atEnd`), a header whose frame ends exactly at
    /// the end of the bytes counts as confirmed.
    public static func firstHeader(in bytes: [UInt8], from: Int, maxPayload: Int, atEnd: Bool = false) -> Result {
        var p = from
        while p + WireLimits.headerSize <= bytes.count {
            if plausibleHeader(bytes, at: p, maxPayload: maxPayload) {
                let next = p + WireLimits.headerSize + Int(FrameHeader(parsing: bytes, at: p).length)
                if next + WireLimits.headerSize <= bytes.count {
                    if plausibleHeader(bytes, at: next, maxPayload: maxPayload) { return .found(p) }
                } else if atEnd {
                    if next == bytes.count { return .found(p) }
                } else {
                    return .needMore(p)
                }
            }
            p += 1
        }
        return .needMore(p)
    }
}
