import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on one of the authentication files.
struct AuthFileFailure: Error, Sendable, Equatable, CustomStringConvertible {
    var path: String
    var operation: String
    var errno: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// The small files of the authentication (users, revocation stamp): read whole, written atomically.
enum AuthFiles {
    /// The file's bytes, nil when it does not exist.
    static func readFile(_ path: String) throws(AuthFileFailure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT { return nil }
            throw AuthFileFailure(path: path, operation: "open", errno: e)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuthFileFailure(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            // The files are a few kilobytes; refuse to load something absurd into memory.
            if out.count > 16 << 20 { throw AuthFileFailure(path: path, operation: "read (file over 16 MiB)", errno: EFBIG) }
        }
        return out
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Writes `bytes` to a temporary file beside `path` (created with `mode`, flushed), then renames it over
    /// `path`: a reader sees the old file or the new one, never a part.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(AuthFileFailure) {
        // Ends in .tmp: the integrity scan never picks a half-written file up (the directory is synced).
        let temp = "\(path).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let dir = (path as NSString).deletingLastPathComponent
        if !exists(dir) { mkdir(dir, 0o700) }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 { throw AuthFileFailure(path: temp, operation: "create", errno: errno) }
        var failure: AuthFileFailure?
        // The umask may have taken bits away; set exactly the mode asked for.
        if fchmod(fd, mode) != 0 { failure = AuthFileFailure(path: temp, operation: "chmod", errno: errno) }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = AuthFileFailure(path: temp, operation: "write", errno: errno)
            } else {
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = AuthFileFailure(path: temp, operation: "fsync", errno: errno) }
        if close(fd) != 0 && failure == nil { failure = AuthFileFailure(path: temp, operation: "close", errno: errno) }
        if failure == nil && rename(temp, path) != 0 { failure = AuthFileFailure(path: path, operation: "rename", errno: errno) }
        if let failure {
            unlink(temp)
            throw failure
        }
        // Make the rename itself durable.
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath` (created 0600 when missing), so that two
    /// processes changing the same file do not lose each other's change.
    static func withLock<T>(_ lockPath: String, _ body: () throws -> T) throws -> T {
        let dir = (lockPath as NSString).deletingLastPathComponent
        if !exists(dir) { mkdir(dir, 0o700) }
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw AuthFileFailure(path: lockPath, operation: "open lock", errno: errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw AuthFileFailure(path: lockPath, operation: "flock", errno: errno) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
