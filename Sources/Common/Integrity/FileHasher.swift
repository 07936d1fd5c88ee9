#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hashes files with one reused read buffer and BLAKE2b state: one `open`, a few `read`s and a `close`
/// per file, no allocation per file. One hasher per thread.
public final class FileHasher {
    private let hasher = Blake2b()
    private let buffer: UnsafeMutableRawBufferPointer

    public init(bufferSize: Int = 128 * 1024) {
        buffer = .allocate(byteCount: bufferSize, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Hex BLAKE2b-512 of the file's whole content, read to end of file (the size may have changed since
    /// it was listed).
    public func hashFile(atPath path: String) throws(SystemCallError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        if fd < 0 { throw SystemCallError("open", path: path, errno: errno) }
        defer { close(fd) }
        return try hash(fd: fd, path: path)
    }

    /// The same for `name` inside an open directory: one path component for the kernel to resolve.
    /// `path` only names the file in errors.
    public func hashFile(in directory: Int32, name: String, path: String) throws(SystemCallError) -> String {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        if fd < 0 { throw SystemCallError("open", path: path, errno: errno) }
        defer { close(fd) }
        return try hash(fd: fd, path: path)
    }

    private func hash(fd: Int32, path: String) throws(SystemCallError) -> String {
        hasher.reset()
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("read", path: path, errno: errno)
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finalizeHex()
    }
}
