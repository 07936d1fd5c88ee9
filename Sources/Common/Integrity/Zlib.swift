import CZlib

/// zlib-format (RFC 1950) compression, as Python's `zlib.compress` / `zlib.decompress` do it, for the
/// 4.8.1 package container (zip entries use `RawDeflate`).
public enum Zlib {
    /// `zlib.compress(data, level)`: windowBits 15, memLevel 8, default strategy, one `Z_FINISH` pass,
    /// so the bytes equal Python's for the same zlib version.
    public static func compress(_ data: UnsafeRawBufferPointer, level: Int) throws(ZlibError) -> [UInt8] {
        var bound = compressBound(uLong(data.count))
        let capacity = Int(bound)
        var out = [UInt8](unsafeUninitializedCapacity: capacity) { _, count in count = capacity }
        let source = data.baseAddress?.assumingMemoryBound(to: Bytef.self)
        let rc = out.withUnsafeMutableBufferPointer { dest in
            compress2(dest.baseAddress, &bound, source ?? UnsafePointer(dest.baseAddress!), uLong(data.count), Int32(level))
        }
        guard rc == Z_OK else { throw .failed(code: rc, message: "compress2 failed") }
        out.removeSubrange(Int(bound)...)
        return out
    }

    public static func compress(_ data: [UInt8], level: Int) throws(ZlibError) -> [UInt8] {
        try data.withUnsafeBytes { raw in Result { () throws(ZlibError) in try compress(raw, level: level) } }.get()
    }

    /// Inflates one complete zlib stream. Refuses output beyond `limit` (checked as it grows, so a bomb
    /// costs at most `limit` bytes of memory), a stream that ends early, and bytes after the stream.
    public static func decompress(_ data: ArraySlice<UInt8>, limit: Int) throws(ZlibError) -> [UInt8] {
        let inflater = try ZlibInflater(limit: limit, scratchSize: max(16 * 1024, min(data.count * 4, 4 << 20)))
        try data.withUnsafeBytes { raw in Result { () throws(ZlibError) in try inflater.feed(raw) } }.get()
        return try inflater.finish()
    }
}

public enum ZlibError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stream ended before its end marker.
    case truncated
    /// zlib rejected the data (bad header, bad checksum, invalid codes).
    case corrupt(String)
    /// Bytes follow the end of the stream.
    case trailingData(bytes: Int)
    /// The output would exceed the caller's limit.
    case tooLarge(limit: Int)
    /// zlib could not run (memory, parameters).
    case failed(code: Int32, message: String)

    public var description: String {
        switch self {
        case .truncated: return "zlib stream is truncated"
        case .corrupt(let m): return "zlib stream is corrupt: \(m)"
        case .trailingData(let n): return "\(n) bytes follow the end of the zlib stream"
        case .tooLarge(let limit): return "decompressed data exceeds \(limit) bytes"
        case let .failed(code, m): return "\(m) (zlib error \(code))"
        }
    }
}
