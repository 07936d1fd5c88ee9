import Foundation
#if canImport(Glibc)
import CMalloc
#endif

/// What applying a master package did (PROTOCOL.md §5.7).
public struct ApplyResult: Equatable, Sendable {
    public var created: [String] = []
    public var updated: [String] = []
    public var removed: [String] = []
    /// Per-file failures: (path, reason), by kind.
    public var errorsOverwriting: [String: String] = [:]
    public var errorsCreating: [String: String] = [:]
    public var errorsRemoving: [String: String] = [:]
    public var hasErrors: Bool { !(errorsOverwriting.isEmpty && errorsCreating.isEmpty && errorsRemoving.isEmpty) }
}

/// Applies a checked master package to a node home so that no reader ever sees a partial file: each
/// file is written to a temporary file in its target directory, flushed to disk, given the permissions of
/// its cluster item, then renamed over the target. Extra files are deleted, and directories left empty are
/// removed where the item says `remove_subdirs_if_empty`. Nothing outside the cluster items and no
/// excluded file is ever touched: every path is checked against the items again here.
public struct PackageApplier: Sendable {
    public let home: String
    public let items: ClusterItems
    /// Suffix of temporary files. It ends in `.tmp`, an excluded extension, so a scan never hashes one, and
    /// it is distinctive so that start-up can sweep leftovers of a crash without touching a user's files.
    public static let temporarySuffix = ".clusterd.tmp"

    public init(home: String, items: ClusterItems = .wazuh481) {
        self.home = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        self.items = items
    }

    public func apply(_ package: IntegrityPackage) -> ApplyResult {
        var result = ApplyResult()
        guard case .sync(let diff) = package.metadata else { return result }
        let contents = Dictionary(package.files.map { ($0.path, $0.content) }, uniquingKeysWith: { a, _ in a })

        // 1. Check every path and plan its write.
        struct Planned: Sendable { let path: String; let isMissing: Bool; let permissions: Int; let content: [UInt8] }
        var plan: [Planned] = []
        for (group, isMissing) in [(diff.missing, true), (diff.shared, false)] {
            for (path, metadata) in group {
                guard let content = contents[path] else { continue }  // left for a later round
                switch items.owner(of: path, declaredKey: metadata.clusterItemKey) {
                case .success(let item): plan.append(Planned(path: path, isMissing: isMissing, permissions: item.permissions, content: content))
                case .failure(let problem):
                    if isMissing { result.errorsCreating[path] = "\(problem)" } else { result.errorsOverwriting[path] = "\(problem)" }
                }
            }
        }

        // 2. Write every file to its temporary name, on all cores. Nothing is visible yet.
        let failures = UnsafeMutableBufferPointer<String?>.allocate(capacity: plan.count)
        failures.initialize(repeating: nil)
        defer { failures.deallocate() }
        let home = self.home
        let directories = Set(plan.map { (home + "/" + $0.path as NSString).deletingLastPathComponent })
        var badDirectories: [String: String] = [:]
        for dir in directories.sorted() {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770]) }
            catch { badDirectories[dir] = "\(error)" }
        }
        nonisolated(unsafe) let failureSlots = failures
        let planned = plan
        DispatchQueue.concurrentPerform(iterations: planned.count) { i in
            let p = planned[i]
            do { try Self.writeTemporary(home + "/" + p.path, content: p.content, permissions: p.permissions) }
            catch { failureSlots[i] = "\(error)" }
        }

        // 3. One flush of the file system for all of them (instead of an fsync per file), then the renames:
        //    a reader sees the old file or the complete new one, never a partial one.
        let dirFD = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { syncfs(dirFD); close(dirFD) }
        for (i, p) in planned.enumerated() {
            let full = home + "/" + p.path
            let temp = Self.temporaryPath(for: full)
            var failure = failures[i] ?? badDirectories[(full as NSString).deletingLastPathComponent]
            if failure == nil && rename(temp, full) != 0 {
                failure = "\(SystemCallError("rename", path: full, errno: errno))"
            }
            if let failure {
                unlink(temp)
                if p.isMissing { result.errorsCreating[p.path] = failure } else { result.errorsOverwriting[p.path] = failure }
            } else if p.isMissing {
                result.created.append(p.path)
            } else {
                result.updated.append(p.path)
            }
        }

        // 4. Extra files.
        var emptied: [(dir: String, item: ClusterItem)] = []
        for (path, metadata) in diff.extra {
            do {
                let item = try items.owner(of: path, declaredKey: metadata.clusterItemKey).get()
                let full = home + "/" + path
                if unlink(full) != 0 && errno != ENOENT {
                    throw SystemCallError("unlink", path: full, errno: errno)
                }
                result.removed.append(path)
                if item.removeSubdirsIfEmpty { emptied.append(((full as NSString).deletingLastPathComponent, item)) }
            } catch {
                result.errorsRemoving[path] = "\(error)"
            }
        }
        for (dir, item) in emptied { removeEmptyDirectories(from: dir, upTo: home + "/" + item.key) }
        return result
    }

    static func temporaryPath(for full: String) -> String {
        let dir = (full as NSString).deletingLastPathComponent
        return dir + "/." + (full as NSString).lastPathComponent + temporarySuffix
    }

    private static func writeTemporary(_ full: String, content: [UInt8], permissions: Int) throws {
        let temp = temporaryPath(for: full)
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SystemCallError("open", path: temp, errno: errno) }
        defer { close(fd) }
        do {
            try content.withUnsafeBytes { try FileIO.writeAll(fd: fd, $0, path: temp) }
            guard fchmod(fd, mode_t(permissions)) == 0 else { throw SystemCallError("fchmod", path: temp, errno: errno) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// Removes `dir` and its parents while they are empty or hold only excluded names, stopping at the
    /// item's root, which stays.
    private func removeEmptyDirectories(from dir: String, upTo root: String) {
        let rootPath = (root as NSString).standardizingPath
        var current = (dir as NSString).standardizingPath
        while current.hasPrefix(rootPath + "/") {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: current) else { return }
            guard names.allSatisfy({ items.excludedFiles.contains($0) }) else { return }
            guard (try? FileManager.default.removeItem(atPath: current)) != nil else { return }
            current = (current as NSString).deletingLastPathComponent
        }
    }

    /// Deletes temporary files a crash left in the cluster item directories; returns their paths.
    @discardableResult
    public func sweepTemporaryFiles() -> [String] {
        var removed: [String] = []
        for item in items.items {
            let root = home + "/" + item.key
            guard let e = FileManager.default.enumerator(atPath: root) else { continue }
            while let rel = e.nextObject() as? String {
                if !item.recursive && rel.contains("/") { continue }
                if (rel as NSString).lastPathComponent.hasSuffix(Self.temporarySuffix) {
                    if unlink(root + "/" + rel) == 0 { removed.append(item.key + rel) }
                }
            }
        }
        return removed
    }
}
