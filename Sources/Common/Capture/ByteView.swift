/// A bounds-checked window into a byte array, so the packet parsers read fields at offsets relative to
/// the start of their own header without copying, and a short packet yields nil rather than a trap.
public struct ByteView: Sendable {
    public let base: [UInt8]
    public let start: Int
    public let count: Int

    public init(_ base: [UInt8], start: Int = 0, count: Int? = nil) {
        self.base = base
        self.start = start
        self.count = count ?? (base.count - start)
    }

    public func u8(_ at: Int) -> UInt8? {
        guard at >= 0, at < count else { return nil }
        return base[start + at]
    }

    public func u16(_ at: Int, bigEndian: Bool = true) -> UInt16? {
        guard at >= 0, at + 2 <= count else { return nil }
        let a = UInt16(base[start + at]), b = UInt16(base[start + at + 1])
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    public func u32(_ at: Int, bigEndian: Bool = true) -> UInt32? {
        guard at >= 0, at + 4 <= count else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 {
            let byte = UInt32(base[start + at + (bigEndian ? i : 3 - i)])
            v = v << 8 | byte
        }
        return v
    }

    public func u64(_ at: Int, bigEndian: Bool = true) -> UInt64? {
        guard at >= 0, at + 8 <= count else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 {
            let byte = UInt64(base[start + at + (bigEndian ? i : 7 - i)])
            v = v << 8 | byte
        }
        return v
    }

    /// The bytes from `at` on (at most `length` of them), or nil when `at` is past the end.
    public func suffix(from at: Int, length: Int? = nil) -> ByteView? {
        guard at >= 0, at <= count else { return nil }
        let n = min(length ?? (count - at), count - at)
        return ByteView(base, start: start + at, count: max(0, n))
    }

    public var bytes: [UInt8] { Array(base[start..<start + count]) }
}
