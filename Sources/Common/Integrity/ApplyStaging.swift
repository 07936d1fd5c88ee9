import CFileSystem
import Crypto
import Foundation
import Synchronization

/// What an apply does before anything is visible: the directories it makes and the temporary files it
/// writes beside their targets. It remembers both so that a package found hostile or broken halfway can
/// be undone completely, and so that directories made only for files that were then discarded go again.
final class StagingArea {
    let home: String
    /// Directories known to exist (made here or found), relative to the home.
    private var ready: Set<Substring> = []
    /// Directories made here, parents before children.
    private var created: [String] = []

    init(home: String) {
        self.home = home
        _ = Self.stagingDirectory(home: home)
    }

    /// Temporary files of the homes this process applies to go to `<home>/queue/cluster/.staging/<k>/`,
    /// outside every synced directory, so nothing reading a synced directory (an agent's shared folder,
    /// the scan) ever sees a file being written. Only when that directory is on the same file system as
    /// the synced trees (`etc/`, `var/`), so the rename stays atomic; beside the target otherwise.
    /// Decided once per home; nil: beside the target.
    private static let stagingRoots = Mutex<[String: String?]>([:])
    static let stagingShards = 16

    static func stagingDirectory(home: String) -> String? {
        if let known = stagingRoots.withLock({ $0[home] }) { return known }
        let root = home + "/queue/cluster/.staging"
        var chosen: String? = nil
        mkdir(home + "/queue", 0o770)
        mkdir(home + "/queue/cluster", 0o770)
        mkdir(root, 0o770)
        var ok = true
        for shard in 0..<stagingShards where mkdir(root + "/\(shard)", 0o770) != 0 && errno != EEXIST { ok = false }
        func device(_ path: String) -> UInt64? {
            var st = stat()
            return stat(path, &st) == 0 ? UInt64(st.st_dev) : nil
        }
        if ok, let staging = device(root) {
            let trees = ["etc", "var"].compactMap { device(home + "/" + $0) }
            if trees.allSatisfy({ $0 == staging }) { chosen = root }
        }
        stagingRoots.withLock { $0[home] = chosen }
        return chosen
    }

    /// Makes the parent directories of `path` (relative) with mode 0770, as 4.8.1 does, given to `owner`
    /// when there is one; returns why it failed, if it did.
    func prepareDirectory(for path: String, owner: FileOwner? = nil) -> String? {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        let directory = path[..<slash]
        if ready.contains(directory) { return nil }
        var end = directory.startIndex
        while end < directory.endIndex {
            end = directory[directory.index(after: end)...].firstIndex(of: "/") ?? directory.endIndex
            let prefix = directory[..<end]
            if ready.contains(prefix) { continue }
            let full = home + "/" + prefix
            if mkdir(full, 0o770) == 0 {
                // mkdir's mode goes through the umask; 4.8.1's directories end up 0770 whatever it is.
                chmod(full, 0o770)
                created.append(full)
                if let owner, chown(full, owner.uid, owner.gid) != 0 {
                    return "\(SystemCallError("chown", path: full, errno: errno))"
                }
            } else if errno != EEXIST {
                return "\(SystemCallError("mkdir", path: full, errno: errno))"
            }
            ready.insert(prefix)
        }
        return nil
    }

    /// Removes the directories made here that are empty now, deepest first.
    func removeEmptyCreatedDirectories() {
        for directory in created.reversed() { rmdir(directory) }
    }

    /// Where `full` is written before its rename: in its home's staging directory (see `stagingDirectory`)
    /// under a name that encodes the whole relative path (`%` and `/` escaped, long paths hashed), or
    /// `.<name>.clusterd.tmp` beside `full`.
    static func temporaryPath(for full: String) -> String {
        let roots = stagingRoots.withLock { $0 }
        for (home, root) in roots {
            guard let root, full.hasPrefix(home + "/") else { continue }
            let relative = full.dropFirst(home.utf8.count + 1)
            var name = relative.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
            let digest = SHA256.hash(data: Array(relative.utf8))
            let shard = Int(Array(digest)[0]) % stagingShards
            if name.utf8.count > 200 { name = "h-" + digest.map { String(format: "%02x", $0) }.joined() }  // NAME_MAX is 255
            return root + "/\(shard)/" + name + PackageApplier.temporarySuffix
        }
        guard let slash = full.lastIndex(of: "/") else { return "." + full + PackageApplier.temporarySuffix }
        return String(full[...slash]) + "." + String(full[full.index(after: slash)...]) + PackageApplier.temporarySuffix
    }

    /// Writes `content` to the temporary name of `full` and gives it the item's owner and mode before it is
    /// renamed into place (so the target never shows another owner or mode); returns why it failed, if it
    /// did, leaving no temporary file then.
    static func writeTemporary(_ full: String, content: [UInt8], attributes: FileAttributes) -> String? {
        let temp = temporaryPath(for: full)
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return "\(SystemCallError("open", path: temp, errno: errno))" }
        defer { close(fd) }
        do {
            try content.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) in try FileIO.writeAll(fd: fd, raw, path: temp) }
            }.get()
            try apply(attributes, fd: fd, path: temp)
        } catch {
            unlink(temp)
            return "\(error)"
        }
        // The commit flushes the file system once before its renames; starting this file's writeback now
        // lets the disk work while the rest of the package still arrives, so that flush finds little left.
        _ = cfs_start_writeback(fd)
        return nil
    }

    /// Gives an open file its owner (first: a chown may clear mode bits), then its mode.
    static func apply(_ attributes: FileAttributes, fd: Int32, path: String) throws(SystemCallError) {
        if let owner = attributes.owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw SystemCallError("fchown", path: path, errno: errno)
        }
        guard fchmod(fd, mode_t(attributes.permissions)) == 0 else { throw SystemCallError("fchmod", path: path, errno: errno) }
    }

    /// `apply` on a file by its path (a temporary file staged under another item's attributes).
    static func apply(_ attributes: FileAttributes, path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return "\(SystemCallError("open", path: path, errno: errno))" }
        defer { close(fd) }
        do { try apply(attributes, fd: fd, path: path) } catch { return "\(error)" }
        return nil
    }
}

/// Writes temporary files on a few threads while the package is still being read. Files go out in
/// batches (a thread wake-up per file would cost more than writing a small file); at most `concurrency`
/// batches are in flight, which bounds both the threads and the file contents held in memory. With a
/// concurrency of 0 each file is written on the caller's thread.
final class TemporaryFileWriters: @unchecked Sendable {
    private struct Job {
        let index: Int
        let full: String
        let content: [UInt8]
        let attributes: FileAttributes
    }

    static let batchFiles = 32
    static let batchBytes = 4 << 20

    private let lock = NSLock()
    /// Guarded by `lock`.
    private var failures: [Int: String] = [:]
    /// Touched only by the thread that submits.
    private var batch: [Job] = []
    private var batchBytes = 0
    private let slots: DispatchSemaphore
    private let group = DispatchGroup()
    private let queue = DispatchQueue(label: "clusterd.apply.writers", attributes: .concurrent)
    private let inline: Bool

    init(concurrency: Int) {
        inline = concurrency < 1
        slots = DispatchSemaphore(value: max(1, concurrency))
    }

    /// Writes file number `index`; its failure, if any, is reported by `finish`.
    func submit(_ index: Int, full: String, content: [UInt8], attributes: FileAttributes) {
        let job = Job(index: index, full: full, content: content, attributes: attributes)
        if inline { return write(job) }
        batch.append(job)
        batchBytes += content.count
        if batch.count >= Self.batchFiles || batchBytes >= Self.batchBytes { dispatchBatch() }
    }

    func record(_ index: Int, _ failure: String) {
        lock.withLock { failures[index] = failure }
    }

    /// Waits for every write; returns the failures by file number.
    func finish() -> [Int: String] {
        dispatchBatch()
        group.wait()
        return lock.withLock { failures }
    }

    private func dispatchBatch() {
        guard !batch.isEmpty else { return }
        let jobs = batch
        batch = []
        batchBytes = 0
        slots.wait()
        queue.async(group: group) {
            for job in jobs { self.write(job) }
            self.slots.signal()
        }
    }

    private func write(_ job: Job) {
        if let failure = StagingArea.writeTemporary(job.full, content: job.content, attributes: job.attributes) {
            record(job.index, failure)
        }
    }
}
