import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A user and group id pair.
public struct FileOwner: Equatable, Sendable {
    public let uid: uid_t
    public let gid: gid_t

    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }
}

/// The mode and, when the process may give it, the owner of a file an apply writes.
public struct FileAttributes: Equatable, Sendable {
    public var permissions: Int
    /// nil: the file keeps the owner of the process that writes it.
    public var owner: FileOwner?

    public init(permissions: Int, owner: FileOwner? = nil) {
        self.permissions = permissions
        self.owner = owner
    }
}

/// Who owns the files an apply writes: each cluster item names a user and a group (`wazuh:wazuh` for the
/// stock ones, as 4.8.1's worker gives them, PROTOCOL.md §5.7), resolved to ids once. Only root can give
/// a file away; any other process keeps writing files as itself, with the item's mode, and `skipReason`
/// says why the owners are not applied (for a debug line).
public struct FileOwnership: Sendable {
    private let owners: [String: FileOwner]
    /// Why some or all files keep this process's owner; nil when every item's owner is applied.
    public let skipReason: String?

    private init(owners: [String: FileOwner], skipReason: String?) {
        self.owners = owners
        self.skipReason = skipReason
    }

    /// No owner is applied (files keep the writing process's owner).
    public static func processOwner(_ reason: String) -> FileOwnership { FileOwnership(owners: [:], skipReason: reason) }

    /// The owners of `items` as this process can apply them: all of them when it runs as root
    /// (`effectiveUID` 0) and the users and groups exist, none otherwise.
    public static func resolve(_ items: ClusterItems, effectiveUID: uid_t = geteuid()) -> FileOwnership {
        guard effectiveUID == 0 else {
            return .processOwner("not running as root (uid \(effectiveUID)): synced files keep this process's owner")
        }
        var owners: [String: FileOwner] = [:]
        var missing: [String] = []
        for item in items.items where owners[Self.key(item)] == nil {
            let uid = userID(item.owner), gid = groupID(item.group)
            if let uid, let gid {
                owners[Self.key(item)] = FileOwner(uid: uid, gid: gid)
            } else {
                if uid == nil { missing.append("user '\(item.owner)'") }
                if gid == nil { missing.append("group '\(item.group)'") }
            }
        }
        let reason = missing.isEmpty ? nil
            : "no \(Array(Set(missing)).sorted().joined(separator: " or ")) on this system: those files keep this process's owner"
        return FileOwnership(owners: owners, skipReason: reason)
    }

    private static func key(_ item: ClusterItem) -> String { item.owner + ":" + item.group }

    /// The mode and owner a file of `item` gets.
    public func attributes(for item: ClusterItem) -> FileAttributes {
        FileAttributes(permissions: item.permissions, owner: owners[Self.key(item)])
    }

    /// The uid of a user name, nil when there is no such user.
    public static func userID(_ name: String) -> uid_t? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let size = buffer.count
        guard getpwnam_r(name, &entry, &buffer, size, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    /// The gid of a group name, nil when there is no such group.
    public static func groupID(_ name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        let size = buffer.count
        guard getgrnam_r(name, &entry, &buffer, size, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
