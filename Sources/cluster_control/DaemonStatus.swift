import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the cluster daemon runs under a home, as 4.8.1's `get_manager_status` decides it from
/// `var/run`: a `.failed`, `.restart` or `.start` marker means not running; otherwise a
/// `wazuh-clusterd-<pid>.pid` file whose process is alive means running. clusterd writes its pid file
/// under Wazuh's name, so the tool works with either daemon.
enum DaemonStatus {
    static let daemonNames = ["wazuh-clusterd"]

    static func isRunning(home: String) -> Bool {
        let runDir = home + "/var/run"
        let fm = FileManager.default
        let files = (try? fm.contentsOfDirectory(atPath: runDir)) ?? []
        for name in daemonNames {
            if [".failed", ".restart", ".start"].contains(where: { fm.fileExists(atPath: "\(runDir)/\(name)\($0)") }) {
                continue
            }
            for file in files {
                guard let pid = pid(inFileName: file, daemon: name) else { continue }
                if isAlive(pid) { return true }
            }
        }
        return false
    }

    /// The pid of `<daemon>-<pid>.pid`, nil for any other name (`wazuh-clusterd_child_1-…` included).
    static func pid(inFileName file: String, daemon: String) -> pid_t? {
        let prefix = daemon + "-", suffix = ".pid"
        guard file.hasPrefix(prefix), file.hasSuffix(suffix), file.count > prefix.count + suffix.count else { return nil }
        let digits = file.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return pid_t(digits)
    }

    /// `kill(pid, 0)`: the process exists (EPERM: it exists but belongs to another user, e.g. wazuh).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
