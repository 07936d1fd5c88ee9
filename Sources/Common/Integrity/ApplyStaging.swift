import Foundation

/// What an apply does before anything is visible: the directories it makes and the temporary files it
/// writes beside their targets. It remembers both so that a package found hostile or broken halfway can
/// be undone completely, and so that directories made only for files that were then discarded go again.
final class StagingArea {
    let home: String
    /// Directories known to exist (made here or found), relative to the home.
    private var ready: Set<Substring> = []
    /// Directories made here, parents before children.
    private var created: [String] = []

    init(home: String) { self.home = home }

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

    /// `.<name>.clusterd.tmp` beside `full`.
    static func temporaryPath(for full: String) -> String {
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
