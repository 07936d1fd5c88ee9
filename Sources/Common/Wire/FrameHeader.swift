/// A frame header: counter, payload length, command field (`!2I12s`, 20 bytes, PROTOCOL.md §1.2).
public struct FrameHeader: Equatable, Sendable {
    public var counter: UInt32
    /// Payload bytes that follow in this frame (the encrypted length, not the plaintext's).
    public var length: UInt32
    public var command: CommandField

    public init(counter: UInt32, length: UInt32, command: CommandField) {
        self.counter = counter
        self.length = length
        self.command = command
    }

    /// Parses 20 bytes starting at `start`. The caller guarantees they are there.
    public init<C: RandomAccessCollection>(parsing bytes: C, at start: C.Index) where C.Element == UInt8 {
        func u32(_ offset: Int) -> UInt32 {
            let i = bytes.index(start, offsetBy: offset)
            var v: UInt32 = 0
            var j = i
            for _ in 0..<4 { v = v << 8 | UInt32(bytes[j]); j = bytes.index(after: j) }
            return v
        }
        counter = u32(0)
        length = u32(4)
        let cmdStart = bytes.index(start, offsetBy: 8)
        command = CommandField(raw: Array(bytes[cmdStart..<bytes.index(cmdStart, offsetBy: 12)]))
    }

    /// Appends the 20 header bytes to `out`.
    public func write(into out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: counter >> 24))
        out.append(UInt8(truncatingIfNeeded: counter >> 16))
        out.append(UInt8(truncatingIfNeeded: counter >> 8))
        out.append(UInt8(truncatingIfNeeded: counter))
        out.append(UInt8(truncatingIfNeeded: length >> 24))
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
        out.append(contentsOf: command.bytes)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(WireLimits.headerSize)
        write(into: &out)
        return out
    }
}

/// One frame as read off the wire: a header and the payload bytes of this frame.
public struct Frame: Equatable, Sendable {
    public var header: FrameHeader
    public var payload: [UInt8]

    public init(header: FrameHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }
}
