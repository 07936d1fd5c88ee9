import CLibDeflate
import Synchronization

/// Raw deflate (RFC 1951) and CRC-32 for zip entries, with libdeflate: a whole file in one call, and a
/// compressor reused across files (zlib allocates and clears a quarter of a megabyte per stream, which
/// for a ruleset's small files costs more than the compression). Measured on ruleset-like text of 8 KB
/// files: 2.7 times zlib's level-1 speed, and smaller output. Any inflater reads the result; the 4.8.1
/// container keeps zlib (`Zlib`), whose bytes 4.8.1 peers see.
enum RawDeflate {
    /// A libdeflate compressor. Sendable because it only ever moves: taken from `idle` by one thread, used
    /// there, then put back.
    private struct Compressor: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Compressors not in use, by level.
    private static let idle = Mutex<[Int: [Compressor]]>([:])

    /// The raw deflate stream of `data` at `level` (1…12, as libdeflate counts).
    static func compress(_ data: UnsafeRawBufferPointer, level: Int) throws(ZlibError) -> [UInt8] {
        let level = min(max(level, 1), 12)
        guard let taken = idle.withLock({ $0[level]?.popLast() }) ?? libdeflate_alloc_compressor(Int32(level)).map(Compressor.init) else {
            throw .failed(code: -4, message: "libdeflate_alloc_compressor(\(level)) failed")
        }
        defer { idle.withLock { $0[level, default: []].append(taken) } }
        let compressor = taken.pointer
        let bound = libdeflate_deflate_compress_bound(compressor, data.count)
        var written = 0
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            written = libdeflate_deflate_compress(compressor, data.baseAddress, data.count, buffer.baseAddress, bound)
            count = written
        }
        // The bound is libdeflate's worst case, so 0 (did not fit) means it failed.
        guard written > 0 || data.isEmpty else { throw .failed(code: -5, message: "libdeflate_deflate_compress failed") }
        return out
    }

    /// CRC-32 of `data` (the zip entry checksum), with libdeflate's carry-less multiplication kernels.
    static func crc32(_ data: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = data.baseAddress else { return 0 }
        return libdeflate_crc32(0, base, data.count)
    }
}
