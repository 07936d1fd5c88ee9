#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the path it was about. Integrity code reads and writes through POSIX
/// calls rather than Foundation so that hashing thousands of small files costs only the syscalls.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(_ operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// `strerror` text, e.g. "Permission denied".
    public var reason: String { String(cString: strerror(errno)) }
    public var description: String { "\(operation) \(path): \(reason)" }
}

/// Small POSIX helpers shared by the walker, the package writer and the tool.
public enum FileIO {
    /// Reads a whole file (or standard input for "-") into memory.
    public static func readAll(path: String) throws(SystemCallError) -> [UInt8] {
        let fd: Int32 = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemCallError("open", path: path, errno: errno) }
        defer { if fd != STDIN_FILENO { close(fd) } }
        return try readAll(fd: fd, path: path)
    }

    /// Reads from `fd` until end of file. With the size known (`sizeHint`), the file is read straight
    /// into a buffer one byte larger, and the second `read` only confirms the end.
    public static func readAll(fd: Int32, path: String, sizeHint: Int = 0) throws(SystemCallError) -> [UInt8] {
        let initial = max(sizeHint + 1, 64 * 1024)
        var buffer = [UInt8](unsafeUninitializedCapacity: initial) { _, count in count = initial }
        var used = 0
        while true {
            if used == buffer.count { buffer += repeatElement(0, count: buffer.count) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("read", path: path, errno: errno)
            }
            if n == 0 {
                buffer.removeSubrange(used...)
                return buffer
            }
            used += n
        }
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("write", path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Writes `bytes` to a file (created 0644 before umask, truncated) or to standard output for "-".
    public static func writeFile(path: String, _ bytes: [UInt8]) throws(SystemCallError) {
        let fd: Int32 = path == "-" ? STDOUT_FILENO : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw SystemCallError("open", path: path, errno: errno) }
        defer { if fd != STDOUT_FILENO { close(fd) } }
        // Array.withUnsafeBytes only rethrows untyped errors; a Result keeps the type.
        try bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) in try writeAll(fd: fd, raw, path: path) }
        }.get()
    }
}
