#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where input bytes come from: a file, stdin, or memory (tests). Pull-based so that a capture arriving
/// on a pipe (`tcpdump -w - | frame-dump -`) is decoded as it comes, and a large file is never held whole.
public protocol ByteSource: AnyObject {
    /// Up to `maxCount` bytes; an empty array means end of input.
    func read(maxCount: Int) throws(CaptureError) -> [UInt8]
}

/// Reads a file descriptor with read(2).
public final class FileDescriptorByteSource: ByteSource {
    private let fd: Int32
    private let ownsDescriptor: Bool
    public let name: String

    /// Opens `path` for reading.
    public init(path: String) throws(CaptureError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        self.fd = fd
        self.ownsDescriptor = true
        self.name = path
    }

    /// Wraps an already open descriptor (stdin), which stays open.
    public init(fileDescriptor: Int32, name: String) {
        self.fd = fileDescriptor
        self.ownsDescriptor = false
        self.name = name
    }

    deinit { if ownsDescriptor { close(fd) } }

    public func read(maxCount: Int) throws(CaptureError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxCount)
        while true {
            let n = out.withUnsafeMutableBytes { buf in
                #if canImport(Darwin)
                Darwin.read(fd, buf.baseAddress, maxCount)
                #elseif canImport(Musl)
                Musl.read(fd, buf.baseAddress, maxCount)
                #else
                Glibc.read(fd, buf.baseAddress, maxCount)
                #endif
            }
            if n >= 0 {
                out.removeLast(maxCount - n)
                return out
            }
            if errno == EINTR { continue }
            throw .io(path: name, reason: String(cString: strerror(errno)))
        }
    }
}

/// Bytes already in memory.
public final class MemoryByteSource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(maxCount: Int) throws(CaptureError) -> [UInt8] {
        let end = min(bytes.count, position + maxCount)
        defer { position = end }
        return Array(bytes[position..<end])
    }
}

/// Buffers a `ByteSource` for the record formats, which need "the next n bytes" and absolute offsets.
public final class BufferedByteReader {
    private let source: ByteSource
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// Offset in the input of the next unread byte.
    public private(set) var offset = 0
    public static let chunkSize = 1 << 16

    public init(_ source: ByteSource) { self.source = source }

    private var available: Int { buffer.count - start }

    /// Buffers until `count` bytes are available or input ends; returns how many are available.
    @discardableResult
    public func fill(_ count: Int) throws(CaptureError) -> Int {
        while available < count && !atEnd {
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try source.read(maxCount: max(Self.chunkSize, min(count - available, 1 << 24)))
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
        return min(available, count)
    }

    /// The next `count` bytes without consuming them; the caller has checked `fill(count)`.
    public func peek(_ count: Int) -> [UInt8] {
        Array(buffer[start..<start + min(count, available)])
    }

    /// Consumes exactly `count` bytes, or throws `truncatedCapture` if input ends first.
    public func read(_ count: Int) throws(CaptureError) -> [UInt8] {
        let have = try fill(count)
        guard have == count else { throw .truncatedCapture(offset: offset, needed: count, available: have) }
        let out = Array(buffer[start..<start + count])
        start += count
        offset += count
        return out
    }

    /// Consumes and returns whatever is buffered, then whatever the source gives: for raw streams.
    public func readChunk() throws(CaptureError) -> [UInt8] {
        if available == 0 { try fill(1) }
        let out = Array(buffer[start...])
        offset += out.count
        buffer.removeAll(keepingCapacity: true)
        start = 0
        return out
    }
}
