import CZlib

/// zlib-format (RFC 1950) compression, as Python's `zlib.compress` / `zlib.decompress` do it, for the
/// 4.8.1 package container; and raw deflate sizing for the zip writer's limit accounting.
public enum Zlib {
    /// `zlib.compress(data, level)`: windowBits 15, memLevel 8, default strategy, one `Z_FINISH` pass,
    /// so the bytes equal Python's for the same zlib version.
    public static func compress(_ data: UnsafeRawBufferPointer, level: Int) throws(ZlibError) -> [UInt8] {
        var bound = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
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
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .failed(code: Z_MEM_ERROR, message: "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        // Uninitialised: zeroing a fresh chunk per entry costs more than inflating a small entry.
        let chunkSize = max(16 * 1024, min(data.count * 4, 4 << 20))
        var chunk = [UInt8](unsafeUninitializedCapacity: chunkSize) { _, count in count = chunkSize }
        let result: Result<Int, ZlibError> = data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let (rc, produced) = chunk.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    return (rc, buf.count - Int(stream.avail_out))
                }
                if out.count + produced > limit { return .failure(.tooLarge(limit: limit)) }
                out.append(contentsOf: chunk[0..<produced])
                switch rc {
                case Z_STREAM_END:
                    return .success(Int(stream.avail_in))
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress with a fresh output chunk: the input ran out before the end marker.
                    return .failure(.truncated)
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                    return .failure(.corrupt(message))
                }
            }
        }
        let leftover = try result.get()
        guard leftover == 0 else { throw .trailingData(bytes: leftover) }
        return out
    }

    /// Size of the raw deflate stream (no header, windowBits −15, memLevel 8) of `data` at `level`: what
    /// libarchive's zip writer produces for an entry, measured without writing it.
    public static func rawDeflatedSize(_ data: UnsafeRawBufferPointer, level: Int) throws(ZlibError) -> Int {
        var stream = z_stream()
        guard deflateInit2_(&stream, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .failed(code: Z_MEM_ERROR, message: "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        var total = 0
        stream.next_in = UnsafeMutablePointer(mutating: data.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(data.count)
        while true {
            let (rc, produced) = scratch.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress
                stream.avail_out = uInt(buf.count)
                let rc = deflate(&stream, Z_FINISH)
                return (rc, buf.count - Int(stream.avail_out))
            }
            total += produced
            if rc == Z_STREAM_END { return total }
            guard rc == Z_OK || rc == Z_BUF_ERROR else { throw .failed(code: rc, message: "deflate failed") }
        }
    }

    /// An upper bound on the compressed size of `n` bytes (zlib's `compressBound`).
    public static func bound(_ n: Int) -> Int { Int(compressBound(uLong(n))) }
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
