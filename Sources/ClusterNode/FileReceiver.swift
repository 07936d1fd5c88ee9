import Common
import Crypto
import Foundation

/// Receiving side of the file transfer (`new_file` / `file_upd` / `file_end`, PROTOCOL.md §4.2).
/// Paths arrive relative to the node home with a leading `/`. A peer's files may only land in its own
/// directory, `queue/cluster/<peer>/` (4.8.1 workers and masters already send them there; 4.14.3 only
/// checks `queue/cluster/`), at most `maxOpenFiles` at once and `maxFileBytes` each; the SHA-256 of the
/// bytes received is checked at the end. Files that completed are remembered, so that a `*_e` command
/// can only name a file this peer sent on this connection.
struct FileReceiver {
    let home: String
    /// `queue/cluster/<peer>/` relative to the home, once the peer's name is known; nil refuses every file.
    var directory: String?
    let maxOpenFiles: Int
    let maxFileBytes: Int
    private var open: [String: Receiving] = [:]
    /// Absolute paths of the files this peer sent completely, not yet claimed by a `*_e` command.
    private var received: Set<String> = []
    /// Why the transfer of a file broke off (disk full, too large…), by absolute path, until a `*_e`
    /// command names it: the task waiting for that file then fails at once with the reason.
    private var failed: [String: String] = [:]

    private struct Receiving {
        let handle: FileHandle
        var hash: SHA256
        var bytes: Int
        let progress: IncomingFile
    }

    init(home: String, directory: String?, maxOpenFiles: Int, maxFileBytes: Int) {
        self.home = (home as NSString).standardizingPath
        self.directory = directory
        self.maxOpenFiles = maxOpenFiles
        self.maxFileBytes = maxFileBytes
    }

    enum Failure: Error, Equatable {
        case notAllowed
        case unknownFile(String)
        case io(String)
        case checksumMismatch
        case tooManyOpenFiles(Int)
        case fileTooLarge(Int)
    }

    var openCount: Int { open.count }

    /// Resolves `relpath` under the home and checks it stays inside this peer's directory.
    func target(_ relpath: String) throws(Failure) -> String {
        guard let directory else { throw .notAllowed }
        let root = home + "/" + directory
        let parts = relpath.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else { throw .notAllowed }
        let full = home + "/" + parts.joined(separator: "/")
        guard full.hasPrefix(root + "/"), full.count > root.count + 1 else { throw .notAllowed }
        // The directory must already exist (as in 4.8.1) and must not lead elsewhere through a symlink.
        let dir = (full as NSString).deletingLastPathComponent
        let resolvedDir = (dir as NSString).resolvingSymlinksInPath
        let resolvedRoot = ((root as NSString).resolvingSymlinksInPath as NSString).standardizingPath
        guard resolvedDir == resolvedRoot || resolvedDir.hasPrefix(resolvedRoot + "/") else { throw .notAllowed }
        return full
    }

    /// Creates (or truncates) the target; returns the file's progress, which a reader may follow.
    mutating func start(_ relpath: String) throws(Failure) -> IncomingFile {
        let path = try target(relpath)
        if let existing = open.removeValue(forKey: relpath) {
            try? existing.handle.close()
            existing.progress.fail("the sender started \(relpath) again")
        }
        guard open.count < maxOpenFiles else { throw .tooManyOpenFiles(maxOpenFiles) }
        received.remove(path)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]),
              let handle = FileHandle(forWritingAtPath: path) else { throw .io("cannot create \(path)") }
        let progress = IncomingFile(path: path)
        open[relpath] = Receiving(handle: handle, hash: SHA256(), bytes: 0, progress: progress)
        return progress
    }

    mutating func update(_ relpath: String, _ bytes: ArraySlice<UInt8>) throws(Failure) {
        guard var entry = open.removeValue(forKey: relpath) else { throw .unknownFile(relpath) }
        guard entry.bytes + bytes.count <= maxFileBytes else {
            abandon(entry, "\(relpath) is larger than \(maxFileBytes) bytes")
            throw .fileTooLarge(maxFileBytes)
        }
        do { try entry.handle.write(contentsOf: bytes) } catch {
            let reason = "cannot write \(entry.progress.path): \(Self.describe(error))"
            abandon(entry, reason)
            throw .io(reason)
        }
        entry.hash.update(data: bytes)
        entry.bytes += bytes.count
        open[relpath] = entry
        entry.progress.advance(by: bytes.count)
    }

    mutating func finish(_ relpath: String, digest: ArraySlice<UInt8>) throws(Failure) {
        guard let entry = open.removeValue(forKey: relpath) else { throw .unknownFile(relpath) }
        try? entry.handle.close()
        guard Array(entry.hash.finalize()) == Array(digest) else {
            entry.progress.fail("\(relpath): checksums aren't equal")
            throw .checksumMismatch
        }
        received.insert(entry.progress.path)
        entry.progress.complete()
    }

    /// Claims a completely received file by its path relative to the home (`queue/cluster/<peer>/…`, as
    /// `*_e` commands name them): its absolute path if this peer sent it on this connection, else nil.
    /// A file is claimed once.
    mutating func claim(_ relative: String) -> String? {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        let path = home + "/" + parts.joined(separator: "/")
        return received.remove(path)
    }

    /// A failed transfer: the descriptor is closed and the partial file removed.
    private mutating func abandon(_ entry: Receiving, _ reason: String) {
        try? entry.handle.close()
        entry.progress.fail(reason)
        unlink(entry.progress.path)
        if failed.count > 64 { failed.removeAll() }
        failed[entry.progress.path] = reason
    }

    /// Why the file named as a `*_e` command names it was not received, if its transfer broke off here.
    mutating func failureReason(_ relative: String) -> String? {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        return failed.removeValue(forKey: home + "/" + parts.joined(separator: "/"))
    }

    /// A write error in words: the system's text for an errno ("No space left on device").
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return "\(error)"
    }

    mutating func abandonAll() {
        for (_, e) in open {
            try? e.handle.close()
            e.progress.fail("connection closed before the end of \(e.progress.path)")
        }
        open.removeAll()
        received.removeAll()
    }
}
