import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Severity of a `cluster.log` line. DEBUG2 (Python level 5) is below DEBUG.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case debug2 = 0, debug, info, warning, error

    /// The name written in the line, as Python's logging writes it.
    public var name: String {
        switch self {
        case .debug2: return "DEBUG2"
        case .debug: return "DEBUG"
        case .info: return "INFO"
        case .warning: return "WARNING"
        case .error: return "ERROR"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The log file could not be opened, rotated or archived.
public struct ClusterLogError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "log file \(path): \(reason)" }
}

/// Writes `cluster.log` lines (LOCAL-DAPI-CONTROL.md §3.4, PROTOCOL.md §10):
/// `YYYY/MM/DD HH:MM:SS LEVEL: [tag] [subtag] message`, local time, no milliseconds.
///
/// Each line is one `write(2)` on an `O_APPEND` descriptor, so lines from several threads (or processes)
/// never interleave and nothing sits in a buffer if the process dies. Thread-safe; `level` may be changed
/// at run time. The descriptor is replaced only under the same lock the lines are written under
/// (`reopen`, `detach(to:)`), so a line written while the file is rotated or reopened lands in exactly
/// one of the two files.
public final class ClusterLog: Sendable {
    private let state: LockedBox<LogLevel>
    /// The log file's path; nil logs nowhere but stderr when mirrored.
    public let path: String?
    /// The open log file, guarded with the writing of every line.
    private let file: Mutex<Int32?>
    private let mirrorToStderr: Bool
    /// The clock of the line timestamps (injected by tests that stamp lines with another day).
    private let now: @Sendable () -> Date

    /// Opens (creating with mode 0660) and appends to `path`; nil logs nowhere but stderr when mirrored.
    public init(path: String?, level: LogLevel, mirrorToStderr: Bool, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.state = LockedBox(level)
        self.mirrorToStderr = mirrorToStderr
        self.path = path
        self.now = now
        self.file = Mutex(try path.map(Self.openForAppending))
    }

    /// `path` for appending, created with mode 0660. The umask may have narrowed the creation mode, and
    /// 4.8.1 also chmods an existing log to 0660.
    private static func openForAppending(_ path: String) throws(ClusterLogError) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o660)
        guard fd >= 0 else { throw ClusterLogError(path: path, reason: "cannot open it: " + String(cString: strerror(errno))) }
        _ = fchmod(fd, 0o660)
        return fd
    }

    deinit {
        file.withLock { fd in if let fd { close(fd) } }
    }

    /// Opens `path` again and writes the next lines there: after `SIGHUP`, for logrotate, which may have
    /// moved the file away (a new one is created at the path). On failure the old descriptor stays.
    public func reopen() throws(ClusterLogError) {
        guard let path else { return }
        let fresh = try Self.openForAppending(path)
        let old = file.withLock { fd in
            defer { fd = fresh }
            return fd
        }
        if let old { close(old) }
    }

    /// Renames the log file to `destination` and starts a new, empty one at its path, in one step under
    /// the line lock: every line goes either to the renamed file or to the new one. Returns false when
    /// there was no file to rename (someone moved it away): the log is reopened at its path then.
    public func detach(to destination: String) throws(ClusterLogError) -> Bool {
        guard let path else { return false }
        return try file.withLock { fd throws(ClusterLogError) -> Bool in
            var renamed = true
            if rename(path, destination) != 0 {
                guard errno == ENOENT else {
                    throw ClusterLogError(path: path, reason: "cannot rename it to \(destination): \(String(cString: strerror(errno)))")
                }
                renamed = false
            }
            let fresh: Int32
            do throws(ClusterLogError) {
                fresh = try Self.openForAppending(path)
            } catch {
                // Lines keep going to the old descriptor: put its file back where it was.
                if renamed { rename(destination, path) }
                throw error
            }
            if let old = fd { close(old) }
            fd = fresh
            return renamed
        }
    }

    /// Lines below this level are dropped without building their message.
    public var level: LogLevel {
        get { state.value }
        set { state.value = newValue }
    }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= self.level }

    public func log(_ level: LogLevel, tag: String, subtag: String, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        let line = Self.format(date: now(), level: level, tag: tag, subtag: subtag, message: message())
        let bytes = Array(line.utf8)
        file.withLock { fd in
            if let fd { Self.writeAll(fd, bytes) }
            if mirrorToStderr { Self.writeAll(STDERR_FILENO, bytes) }
        }
    }

    public func debug2(tag: String, subtag: String, _ message: @autoclosure () -> String) { log(.debug2, tag: tag, subtag: subtag, message()) }
    public func debug(tag: String, subtag: String, _ message: @autoclosure () -> String) { log(.debug, tag: tag, subtag: subtag, message()) }
    public func info(tag: String, subtag: String, _ message: @autoclosure () -> String) { log(.info, tag: tag, subtag: subtag, message()) }
    public func warning(tag: String, subtag: String, _ message: @autoclosure () -> String) { log(.warning, tag: tag, subtag: subtag, message()) }
    public func error(tag: String, subtag: String, _ message: @autoclosure () -> String) { log(.error, tag: tag, subtag: subtag, message()) }

    /// One line, newline included.
    public static func format(date: Date, level: LogLevel, tag: String, subtag: String, message: String) -> String {
        "\(timestamp(date)) \(level.name): [\(tag)] [\(subtag)] \(message)\n"
    }

    /// `%Y/%m/%d %H:%M:%S` in local time.
    public static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)/\(two(parts.tm_mon + 1))/\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // a full disk must not take the daemon down; the line is lost
                }
                offset += n
            }
        }
    }
}

/// A value behind a lock, for the few mutable fields of otherwise immutable Sendable classes.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
