import Foundation
import Synchronization

/// `logs/api.log`: `YYYY/MM/DD HH:MM:SS LEVEL: message`, as the Wazuh API writes it, at the level of
/// api.yaml's `logs.level` (`disabled` writes nothing). Lines are also mirrored to stderr when asked.
public final class APILog: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug2 = 0, debug, info, warning, error, disabled
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        init(_ name: String) {
            switch name {
            case "debug2": self = .debug2
            case "debug": self = .debug
            case "warning": self = .warning
            case "error": self = .error
            case "disabled": self = .disabled
            default: self = .info
            }
        }
        var label: String {
            switch self {
            case .debug2, .debug: return "DEBUG"
            case .info: return "INFO"
            case .warning: return "WARNING"
            case .error: return "ERROR"
            case .disabled: return ""
            }
        }
    }

    let level: Level
    let mirror: Bool
    private let handle: Mutex<FileHandle?>

    public init(home: String?, level: String, mirrorToStderr: Bool = false) throws {
        self.level = Level(level)
        mirror = mirrorToStderr
        guard let home else { handle = Mutex(nil); return }
        let dir = home + "/logs", path = dir + "/api.log"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o660]) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile()
        handle = Mutex(h)
    }

    public func write(_ l: Level, _ message: String) {
        guard l >= level, level != .disabled else { return }
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        let stamp = String(format: "%04d/%02d/%02d %02d:%02d:%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                           Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
        let line = "\(stamp) \(l.label): \(message)\n"
        handle.withLock { $0?.write(Data(line.utf8)) }
        if mirror { FileHandle.standardError.write(Data(line.utf8)) }
    }

    public func info(_ m: String) { write(.info, m) }
    public func warning(_ m: String) { write(.warning, m) }
    public func error(_ m: String) { write(.error, m) }
    public func debug(_ m: String) { write(.debug, m) }
}
