import Crypto
import Foundation

/// Receiving side of the file transfer (`new_file` / `file_upd` / `file_end`, PROTOCOL.md §4.2).
/// Paths arrive relative to the node home with a leading `/`; only targets under `queue/cluster/` are
/// written (4.14.3 hardening), and the SHA-256 of the bytes received is checked at the end.
struct FileReceiver {
    let home: String
    private var open: [String: (handle: FileHandle, hash: SHA256, progress: IncomingFile)] = [:]

    init(home: String) { self.home = home }

    enum Failure: Error, Equatable {
        case notAllowed
        case unknownFile(String)
        case io(String)
        case checksumMismatch
    }

    /// Resolves `relpath` under the home and checks it stays inside `queue/cluster/`.
    func target(_ relpath: String) throws(Failure) -> String {
        let root = (home as NSString).standardizingPath + "/queue/cluster/"
        let parts = relpath.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else { throw .notAllowed }
        let full = (home as NSString).standardizingPath + "/" + parts.joined(separator: "/")
        guard full.hasPrefix(root), full.count > root.count else { throw .notAllowed }
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
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]),
              let handle = FileHandle(forWritingAtPath: path) else { throw .io("cannot create \(path)") }
        let progress = IncomingFile(path: path)
        open[relpath] = (handle, SHA256(), progress)
        return progress
    }

    mutating func update(_ relpath: String, _ bytes: ArraySlice<UInt8>) throws(Failure) {
        guard var entry = open[relpath] else { throw .unknownFile(relpath) }
        do { try entry.handle.write(contentsOf: bytes) } catch {
            entry.progress.fail("writing \(entry.progress.path): \(error)")
            throw .io("\(error)")
        }
        entry.hash.update(data: bytes)
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
        entry.progress.complete()
    }

    mutating func abandonAll() {
        for (_, e) in open {
            try? e.handle.close()
            e.progress.fail("connection closed before the end of \(e.progress.path)")
        }
        open.removeAll()
    }
}
