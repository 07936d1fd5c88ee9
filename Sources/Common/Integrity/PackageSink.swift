#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a package's bytes go: an array (the in-memory API), a file, or a consumer taking it in chunks
/// as it is written (a package sent while it is built). For a file only a small buffer is held, so
/// thousands of small entries cost a few hundred `write` calls and no whole-package copy.
struct PackageSink {
    /// The file being written, or nil for the in-memory package.
    private var file: (fd: Int32, path: String)?
    private let inMemory: Bool
    /// The consumer of a streamed package, and the size of each chunk it is given (the last one may be
    /// shorter).
    private var consumer: (chunkSize: Int, take: ([UInt8]) throws(PackageError) -> Void)?
    /// The whole package (memory) or the bytes not yet written (file).
    private(set) var buffer: [UInt8] = []
    /// Bytes emitted so far, flushed or not: the offset of the next byte in the package.
    private(set) var written = 0
    private static let flushSize = 256 * 1024

    static func memory() -> PackageSink { PackageSink(file: nil) }

    /// Creates (or truncates) `path`, readable by owner and group only: packages carry client keys.
    static func file(_ path: String) throws(PackageError) -> PackageSink {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        if fd < 0 { throw .io(SystemCallError("create", path: path, errno: errno)) }
        return PackageSink(file: (fd, path))
    }

    /// Hands the package to `take` in chunks of exactly `chunkSize` bytes, the last one shorter.
    static func stream(chunkSize: Int, _ take: @escaping ([UInt8]) throws(PackageError) -> Void) -> PackageSink {
        var sink = PackageSink(file: nil, inMemory: false)
        sink.consumer = (max(1, chunkSize), take)
        return sink
    }

    private init(file: (fd: Int32, path: String)?, inMemory: Bool? = nil) {
        self.file = file
        self.inMemory = inMemory ?? (file == nil)
    }

    mutating func write(_ bytes: [UInt8]) throws(PackageError) {
        written += bytes.count
        if let (chunkSize, take) = consumer {
            buffer += bytes
            var start = 0
            while buffer.count - start >= chunkSize {
                try take(Array(buffer[start..<start + chunkSize]))
                start += chunkSize
            }
            buffer.removeFirst(start)
            return
        }
        // A large entry goes straight to the file rather than through a copy in the buffer.
        if !inMemory && bytes.count >= Self.flushSize {
            try flush()
            try writeOut(bytes)
            return
        }
        buffer += bytes
        if !inMemory && buffer.count >= Self.flushSize { try flush() }
    }

    /// Writes what is buffered and closes the file; returns the whole package when in memory.
    mutating func finish() throws(PackageError) -> [UInt8] {
        if let (_, take) = consumer {
            if !buffer.isEmpty { try take(buffer) }
            buffer = []
            consumer = nil
            return []
        }
        guard let (fd, _) = file else { return inMemory ? buffer : [] }
        try flush()
        close(fd)
        file = nil
        return []
    }

    /// Closes and removes a file left incomplete by an error.
    mutating func discard() {
        consumer = nil
        buffer = []
        guard let (fd, path) = file else { return }
        close(fd)
        unlink(path)
        file = nil
    }

    private mutating func flush() throws(PackageError) {
        guard !buffer.isEmpty else { return }
        try writeOut(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeOut(_ bytes: [UInt8]) throws(PackageError) {
        guard let (fd, path) = file else { return }
        do {
            try bytes.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) in try FileIO.writeAll(fd: fd, raw, path: path) }
            }.get()
        } catch { throw .io(error) }
    }
}
