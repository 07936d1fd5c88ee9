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

    /// `var/run/clusterd-<pid>.pid` (0640); stale pid files of dead processes are removed first.
    static func writePidFile(home: String) throws -> String {
        let dir = home + "/var/run"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix("clusterd-") && name.hasSuffix(".pid") {
            let pid = name.dropFirst("clusterd-".count).dropLast(".pid".count)
            if !FileManager.default.fileExists(atPath: "/proc/\(pid)") { unlink(dir + "/" + name) }
        }
        let path = "\(dir)/clusterd-\(getpid()).pid"
        guard FileManager.default.createFile(atPath: path, contents: Data("\(getpid())\n".utf8), attributes: [.posixPermissions: 0o640]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return path
    }

    /// Empties `queue/cluster/` except the socket file: temporary packages never survive a restart.
    static func cleanUp(_ ctx: NodeContext) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: ctx.clusterDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        for name in (try? fm.contentsOfDirectory(atPath: ctx.clusterDir)) ?? [] where name != "c-internal.sock" {
            try? fm.removeItem(atPath: ctx.clusterDir + "/" + name)
        }
    }
}
