import ArgumentParser
import Common
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Giving up root as 4.8.1's launcher does (LOCAL-DAPI-CONTROL.md §3.5, step 12): unless `-r`, a daemon
/// started as root switches to the `wazuh` group and user once what needs root is done (the start-up
/// clean-up, stale pid files, the log's owner) and before it serves.
///
/// The switch is followed by an `execve` of the daemon itself. In a Swift program with an async `main` the
/// main thread has already left (libdispatch parks it in `pthread_exit`), and glibc changes the ids of
/// the live threads only: the process would keep root's ids on its first thread, which is what
/// `/proc/<pid>/status`, `ps` and `kill` permission checks look at. After `execve` every thread of the
/// new image, the first one included, is wazuh; the pid stays the same.
enum Privileges {
    static let user = "wazuh"
    static let group = "wazuh"
    /// Set in the environment of the image that runs after the switch: `<uid>:<gid>`.
    static let switchedMarker = "CLUSTERD_SWITCHED_TO_WAZUH"

    enum Outcome: Equatable {
        /// Running as these ids (switched before the `execve` that started this image).
        case switched(uid: uid_t, gid: gid_t)
        /// Still root; why.
        case stayedRoot(String)
        /// Not started as root: nothing to give up.
        case notRoot
    }

    /// The wazuh user's uid and the wazuh group's gid, when both exist.
    static func wazuhIDs() -> FileOwner? {
        guard let uid = FileOwnership.userID(user), let gid = FileOwnership.groupID(group) else { return nil }
        return FileOwner(uid: uid, gid: gid)
    }

    /// Whether this process is to switch: root, no `-r`, and a wazuh user and group to switch to.
    static func shouldSwitch(stayRoot: Bool) -> FileOwner? {
        guard geteuid() == 0, !stayRoot else { return nil }
        return wazuhIDs()
    }

    /// In the process that is to serve: when it runs as root without `-r`, there is a wazuh user and
    /// group, and the configuration is readable and enabled, does what needs root (empties
    /// `queue/cluster/`, removes stale pid files, gives the log to wazuh, as 4.8.1 does), switches and
    /// executes this program again, which then serves as wazuh (it does the same start-up again and finds
    /// these done). Otherwise returns and the caller goes on as it is; a configuration error is then
    /// reported by the caller's own reading.
    static func switchToWazuhIfRoot(home: String, configFile: String, stayRoot: Bool, foreground: Bool) throws {
        guard let ids = shouldSwitch(stayRoot: stayRoot),
              let config = try? ClusterConfigLoader.load(home: home, configFile: configFile), !config.disabled
        else { return }
        Daemon.cleanUp(home: home)
        _ = Daemon.removeStalePidFiles(home: home)
        chown(home + "/logs/cluster.log", ids.uid, ids.gid)
        do {
            try switchAndReexecute(to: ids)
        } catch {
            let log = try? ClusterLog(path: home + "/logs/cluster.log", level: .info, mirrorToStderr: foreground)
            log?.error(tag: "Cluster", subtag: "Main", "\(error)")
            if !foreground { FileHandle.standardError.write(Data("clusterd: \(error)\n".utf8)) }
            throw ExitCode(1)
        }
    }

    /// Switches to `ids` (the supplementary groups first, only wazuh's remains, then the gid, then the
    /// uid: once the uid is not 0 the others cannot change), checks that root cannot be taken back, and
    /// executes this program again with the same arguments. Returns only by throwing.
    static func switchAndReexecute(to ids: FileOwner) throws(PrivilegeError) -> Never {
        var groups = [ids.gid]
        guard setgroups(1, &groups) == 0 else { throw PrivilegeError(call: "setgroups", errno: errno) }
        guard setgid(ids.gid) == 0 else { throw PrivilegeError(call: "setgid(\(ids.gid))", errno: errno) }
        guard setuid(ids.uid) == 0 else { throw PrivilegeError(call: "setuid(\(ids.uid))", errno: errno) }
        guard getuid() == ids.uid, geteuid() == ids.uid, getgid() == ids.gid, getegid() == ids.gid, setuid(0) != 0 else {
            throw PrivilegeError(call: "setuid", errno: EPERM, detail: "root could still be regained after switching")
        }
        var environment = ProcessInfo.processInfo.environment
        environment[switchedMarker] = "\(ids.uid):\(ids.gid)"
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        // The binary's own path rather than /proc/self/exe, so the process keeps its name (ps, pidof).
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        execve(executable, arguments, variables)
        throw PrivilegeError(call: "execve(\(executable))", errno: errno)
    }

    /// What this image runs as, for the log line: switched (the marker matches the ids it runs with),
    /// still root and why, or not root.
    static func outcome(stayRoot: Bool) -> Outcome {
        if let marker = ProcessInfo.processInfo.environment[switchedMarker] {
            unsetenv(switchedMarker)
            let parts = marker.split(separator: ":").compactMap { UInt32($0) }
            if parts.count == 2, getuid() == parts[0], geteuid() == parts[0], getgid() == parts[1] {
                return .switched(uid: parts[0], gid: parts[1])
            }
        }
        guard geteuid() == 0 else { return .notRoot }
        if stayRoot { return .stayedRoot("-r given") }
        if wazuhIDs() == nil { return .stayedRoot("there is no '\(user)' user and '\(group)' group on this system") }
        return .stayedRoot("the configuration could not be read before switching to the \(user) user")
    }
}

/// Switching to the wazuh user and group failed.
struct PrivilegeError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var detail: String?

    var description: String {
        "cannot switch to the \(Privileges.user) user and group: \(call) failed: " + (detail ?? String(cString: strerror(errno)))
    }
}
