import ClusterNode
import Common
import Foundation

/// Process chores: background start, pid file, start-up clean-up.
enum Daemon {
    /// Starts this program again in its own session with stdio on /dev/null and returns; the child runs the
    /// node. (Re-executing instead of fork(): forking a multithreaded Swift process is unsafe.)
    static func spawnBackground() throws {
        let p = Process()
        // The running binary itself: argv[0] may be a bare name found through PATH, or relative to a
        // directory this process has left.
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = Array(CommandLine.arguments.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["CLUSTERD_DAEMON_CHILD"] = "1"
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
    }

    /// The pid file's name as 4.8.1 writes it, so Wazuh's tools (`wazuh-control status`, the framework's
    /// `get_manager_status`) and `cluster_control` see a running daemon: `wazuh-clusterd-<pid>.pid`.
    static let pidFilePrefix = "wazuh-clusterd"

    static func pidFileName(_ pid: pid_t) -> String { "\(pidFilePrefix)-\(pid).pid" }

    /// The pid named by a pid file of this daemon left in `var/run`: `wazuh-clusterd-<pid>.pid`, 4.8.1's
    /// children's `wazuh-clusterd_child_<n>-<pid>.pid`, and the name earlier clusterd versions used,
    /// `clusterd-<pid>.pid`. nil for any other name.
    static func pid(inPidFileName name: String) -> pid_t? {
        guard name.hasSuffix(".pid"), let dash = name.lastIndex(of: "-") else { return nil }
        let prefix = name[..<dash]
        let digits = name[name.index(after: dash)...].dropLast(".pid".count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let pid = pid_t(digits) else { return nil }
        let child = pidFilePrefix + "_child_"
        let isChild = prefix.hasPrefix(child) && prefix.count > child.count
            && prefix.dropFirst(child.count).allSatisfy { $0.isASCII && $0.isNumber }
        guard prefix == pidFilePrefix || prefix == "clusterd" || isChild else { return nil }
        return pid
    }

    /// Removes the pid files in `var/run` of this daemon's processes that are gone (4.8.1 does so at start);
    /// returns their names. A process that exists but belongs to another user (EPERM) is not gone.
    static func removeStalePidFiles(home: String) -> [String] {
        let dir = home + "/var/run"
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let pid = pid(inPidFileName: name), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH && unlink(dir + "/" + name) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Writes `var/run/wazuh-clusterd-<pid>.pid` (mode 0640, the pid and a newline); returns its path.
    static func writePidFile(home: String) throws -> String {
        let dir = home + "/var/run"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + pidFileName(getpid())
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw PidFileError(path: path, errno: errno) }
        defer { close(fd) }
        let text = Array("\(getpid())\n".utf8)
        guard fchmod(fd, 0o640) == 0, write(fd, text, text.count) == text.count else {
            let e = errno
            unlink(path)
            throw PidFileError(path: path, errno: e)
        }
        return path
    }

    /// Empties `queue/cluster/` except the socket file: temporary packages never survive a restart.
    static func cleanUp(home: String) {
        let fm = FileManager.default
        let clusterDir = home + "/queue/cluster"
        try? fm.createDirectory(atPath: clusterDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        for name in (try? fm.contentsOfDirectory(atPath: clusterDir)) ?? [] where name != "c-internal.sock" {
            try? fm.removeItem(atPath: clusterDir + "/" + name)
        }
    }
}

/// The pid file could not be written.
struct PidFileError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot write the pid file \(path): \(String(cString: strerror(errno)))" }
}
