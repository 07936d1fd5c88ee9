import CZlib

/// Inflates one zlib (RFC 1950) stream fed in pieces, as a package reader sees it when it reads a file
/// through a window. It refuses output beyond `limit` as it grows (a bomb costs at most `limit` bytes),
/// input after the end of the stream, and, at `finish`, a stream that never reached its end. One inflater
/// can be reused for many streams with `reset`, which saves zlib's allocations per entry.
final class ZlibInflater {
    /// On the heap: zlib's state points back at its `z_stream`, so the struct must never move.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var scratch: [UInt8]
    private var limit: Int
    private var ended = false
    private(set) var output: [UInt8] = []

    init(limit: Int, scratchSize: Int = 64 * 1024) throws(ZlibError) {
        stream.initialize(to: z_stream())
        scratch = [UInt8](unsafeUninitializedCapacity: scratchSize) { _, count in count = scratchSize }
        self.limit = limit
        // No cleanup here: the throw comes after every property is set, so deinit runs and frees the stream
        // (inflateEnd refuses a stream whose init failed, harmlessly).
        guard inflateInit_(stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .failed(code: Z_MEM_ERROR, message: "inflateInit failed")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Starts a new stream with a new output limit.
    func reset(limit: Int) {
        inflateReset(stream)
        self.limit = limit
        ended = false
        output = []
    }

    /// Inflates `input`, appending to `output`.
    func feed(_ input: UnsafeRawBufferPointer) throws(ZlibError) {
        guard input.count > 0 else { return }
        if ended { throw .trailingData(bytes: input.count) }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        let stream = self.stream
        while true {
            let (rc, produced, outputFull) = scratch.withUnsafeMutableBufferPointer { buf in
                stream.pointee.next_out = buf.baseAddress
                stream.pointee.avail_out = uInt(buf.count)
                let rc = inflate(stream, Z_NO_FLUSH)
                return (rc, buf.count - Int(stream.pointee.avail_out), stream.pointee.avail_out == 0)
            }
            if output.count + produced > limit { throw .tooLarge(limit: limit) }
            output.append(contentsOf: scratch[0..<produced])
            switch rc {
            case Z_STREAM_END:
                ended = true
                let left = Int(stream.pointee.avail_in)
                if left > 0 { throw .trailingData(bytes: left) }
                return
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR with a fresh output buffer means every input byte is used: wait for more.
                if stream.pointee.avail_in == 0 && !outputFull { return }
                if rc == Z_BUF_ERROR && stream.pointee.avail_in > 0 && !outputFull {
                    throw .failed(code: rc, message: "inflate made no progress")
                }
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw .corrupt(message)
            }
        }
    }

    /// Ends the stream: all of it must have arrived. Returns the inflated bytes.
    func finish() throws(ZlibError) -> [UInt8] {
        guard ended else { throw .truncated }
        defer { output = [] }
        return output
    }
}
