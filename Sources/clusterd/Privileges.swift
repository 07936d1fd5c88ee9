import Common
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Giving up root as 4.8.1's launcher does (LOCAL-DAPI-CONTROL.md §3.5, step 12): unless `-r`, a daemon
/// started as root switches to the `wazuh` group and user once everything that needs root is done
/// (start-up clean-up, stale pid files, the log's owner) and before it serves.
enum Privileges {
    static let user = "wazuh"
    static let group = "wazuh"

    enum Outcome: Equatable {
        /// Now running as these ids.
        case dropped(uid: uid_t, gid: gid_t)
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

    /// Switches to the wazuh group and user unless `stayRoot`: the supplementary groups first (only
    /// wazuh's remains), then the gid, then the uid, since once the uid is not 0 the others cannot change.
    /// Afterwards it checks that root cannot be taken back.
    static func drop(stayRoot: Bool) throws(PrivilegeError) -> Outcome {
        guard geteuid() == 0 else { return .notRoot }
        if stayRoot { return .stayedRoot("-r given") }
        guard let ids = wazuhIDs() else {
            return .stayedRoot("there is no '\(user)' user and '\(group)' group on this system")
        }
        var groups = [ids.gid]
        guard setgroups(1, &groups) == 0 else { throw PrivilegeError(call: "setgroups", errno: errno) }
        guard setgid(ids.gid) == 0 else { throw PrivilegeError(call: "setgid(\(ids.gid))", errno: errno) }
        guard setuid(ids.uid) == 0 else { throw PrivilegeError(call: "setuid(\(ids.uid))", errno: errno) }
        guard getuid() == ids.uid, geteuid() == ids.uid, getgid() == ids.gid, getegid() == ids.gid, setuid(0) != 0 else {
            throw PrivilegeError(call: "setuid", errno: EPERM, detail: "root could still be regained after switching")
        }
        return .dropped(uid: ids.uid, gid: ids.gid)
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
