import Foundation

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

/// The log file could not be opened.
public struct ClusterLogError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot open log file \(path): \(reason)" }
}

/// Writes `cluster.log` lines (LOCAL-DAPI-CONTROL.md §3.4, PROTOCOL.md §10):
/// `YYYY/MM/DD HH:MM:SS LEVEL: [tag] [subtag] message`, local time, no milliseconds.
///
/// Each line is one `write(2)` on an `O_APPEND` descriptor, so lines from several threads (or processes)
/// never interleave and nothing sits in a buffer if the process dies. Thread-safe; `level` may be changed
/// at run time.
public final class ClusterLog: Sendable {
    private let state: LockedBox<LogLevel>
    private let fd: Int32?
    private let mirrorToStderr: Bool
    private let writeLock = NSLock()

    /// Opens (creating with mode 0660) and appends to `path`; nil logs nowhere but stderr when mirrored.
    public init(path: String?, level: LogLevel, mirrorToStderr: Bool) throws {
        self.state = LockedBox(level)
        self.mirrorToStderr = mirrorToStderr
        if let path {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o660)
            guard fd >= 0 else { throw ClusterLogError(path: path, reason: String(cString: strerror(errno))) }
            // The umask may have narrowed the creation mode; 4.8.1 also chmods an existing log to 0660.
            _ = fchmod(fd, 0o660)
            self.fd = fd
        } else {
            self.fd = nil
        }
    }

    deinit {
        if let fd { close(fd) }
    }

    /// Lines below this level are dropped without building their message.
    public var level: LogLevel {
        get { state.value }
        set { state.value = newValue }
    }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= self.level }

    public func log(_ level: LogLevel, tag: String, subtag: String, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        let line = Self.format(date: Date(), level: level, tag: tag, subtag: subtag, message: message())
        let bytes = Array(line.utf8)
        writeLock.lock()
        defer { writeLock.unlock() }
        if let fd { Self.writeAll(fd, bytes) }
        if mirrorToStderr { Self.writeAll(STDERR_FILENO, bytes) }
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
