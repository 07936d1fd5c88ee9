import CZlib

/// zlib-format (RFC 1950) compression, as Python's `zlib.compress` / `zlib.decompress` do it, for the
/// 4.8.1 package container; raw deflate and CRC-32 for zip entries.
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

    /// The raw deflate stream (no header, windowBits −15, memLevel 8, default strategy) of `data` at
    /// `level`: the data of a zip entry, as zip writers produce it.
    public static func rawDeflate(_ data: UnsafeRawBufferPointer, level: Int) throws(ZlibError) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .failed(code: Z_MEM_ERROR, message: "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        guard data.count <= Int(UInt32.max) else { throw .failed(code: Z_BUF_ERROR, message: "input over 4 GiB") }
        // deflateBound is exact for one Z_FINISH call, so a single pass always completes.
        let bound = Int(deflateBound(&stream, uLong(data.count)))
        var out = [UInt8](unsafeUninitializedCapacity: bound) { _, count in count = bound }
        stream.next_in = UnsafeMutablePointer(mutating: data.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(data.count)
        let rc = out.withUnsafeMutableBufferPointer { buf in
            stream.next_out = buf.baseAddress
            stream.avail_out = uInt(buf.count)
            return deflate(&stream, Z_FINISH)
        }
        guard rc == Z_STREAM_END else { throw .failed(code: rc, message: "deflate did not finish") }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }

    /// CRC-32 of `data` (the zip entry checksum).
    /// zlib's worst-case compressed size of `n` bytes (raw deflate is never larger).
    public static func bound(_ n: Int) -> Int { Int(compressBound(uLong(n))) }

    public static func crc32(_ data: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = data.baseAddress else { return 0 }
        var crc: uLong = 0
        var offset = 0
        // uInt lengths: large buffers go in pieces below 4 GiB.
        while offset < data.count {
            let n = min(data.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
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
