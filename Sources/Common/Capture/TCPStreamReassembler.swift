/// Rebuilds one direction of a TCP connection into the byte stream the application wrote.
///
/// Sequence numbers are 32-bit and wrap; each segment is placed relative to the next expected sequence
/// number (a signed 32-bit distance), which gives a 64-bit stream offset that survives wraparound and
/// streams longer than 4 GiB. Segments ahead of a hole wait in `pending` until the hole is filled;
/// bytes already delivered (retransmissions, overlaps) are dropped.
public struct TCPStreamReassembler: Sendable {
    /// Sequence number of the next byte to deliver; nil until the first segment is seen.
    private var nextSequence: UInt32?
    /// Stream offset of the next byte to deliver (bytes delivered so far).
    public private(set) var delivered = 0
    /// Out-of-order data, sorted by stream offset.
    private var pending: [(start: Int, bytes: [UInt8])] = []
    public private(set) var pendingBytes = 0
    public let maxPendingBytes: Int
    /// True once a FIN or RST was seen.
    public private(set) var closed = false
    /// True once a SYN was seen (the stream starts at its first byte).
    public private(set) var sawSYN = false

    public init(maxPendingBytes: Int = 64 << 20) {
        self.maxPendingBytes = maxPendingBytes
    }

    /// Where the data waiting beyond a hole starts and how many bytes are missing, if any.
    public var gap: (offset: Int, missing: Int)? {
        pending.first.map { (delivered, $0.start - delivered) }
    }

    /// True when this stream was picked up without its SYN (capture started mid-connection).
    public var startedMidStream: Bool { nextSequence != nil && !sawSYN }

    public enum Failure: Error, Equatable, Sendable {
        /// Too much data waiting beyond a hole: the missing segment is not coming.
        case tooMuchPending(offset: Int, bytes: Int)
    }

    /// Feeds one segment; returns the bytes that are now in order (possibly none).
    public mutating func accept(sequence: UInt32, syn: Bool, fin: Bool, rst: Bool = false,
                                payload: [UInt8]) throws(Failure) -> [UInt8] {
        if fin || rst { closed = true }
        var dataSequence = sequence
        if syn {
            // Data (rare, TCP Fast Open) starts after the SYN, which takes one sequence number.
            dataSequence = sequence &+ 1
            if nextSequence == nil {
                sawSYN = true
                nextSequence = dataSequence
            }
        }
        guard let expected = nextSequence else {
            // No SYN seen: the stream starts at the first byte we see.
            nextSequence = sequence
            return payload.isEmpty ? [] : try accept(sequence: sequence, syn: false, fin: false, payload: payload)
        }
        guard !payload.isEmpty else { return [] }
        var start = delivered + Int(Int32(bitPattern: dataSequence &- expected))
        var data = payload
        if start < delivered {
            let cut = delivered - start
            guard cut < data.count else { return [] }  // all of it delivered already
            data.removeFirst(cut)
            start = delivered
        }
        if start > delivered {
            try hold(start: start, bytes: data)
            return []
        }
        var out = data
        advance(by: data.count)
        drainPending(into: &out)
        return out
    }

    private mutating func advance(by count: Int) {
        delivered += count
        nextSequence = nextSequence.map { $0 &+ UInt32(truncatingIfNeeded: count) }
    }

    private mutating func hold(start: Int, bytes: [UInt8]) throws(Failure) {
        // Refused before storing, so a stream that lost a segment cannot grow without bound.
        guard pendingBytes + bytes.count <= maxPendingBytes else {
            throw .tooMuchPending(offset: delivered, bytes: pendingBytes + bytes.count)
        }
        var low = 0, high = pending.count
        while low < high {
            let mid = (low + high) / 2
            if pending[mid].start < start { low = mid + 1 } else { high = mid }
        }
        if low < pending.count, pending[low].start == start {
            // The same segment again: keep whichever carries more.
            if pending[low].bytes.count >= bytes.count { return }
            pendingBytes -= pending[low].bytes.count
            pending[low].bytes = bytes
        } else {
            pending.insert((start, bytes), at: low)
        }
        pendingBytes += bytes.count
    }

    private mutating func drainPending(into out: inout [UInt8]) {
        while let first = pending.first, first.start <= delivered {
            pending.removeFirst()
            pendingBytes -= first.bytes.count
            let end = first.start + first.bytes.count
            guard end > delivered else { continue }
            let tail = first.bytes[(delivered - first.start)...]
            out.append(contentsOf: tail)
            advance(by: tail.count)
        }
    }
}
