import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The result of one scan of a node home.
public struct IntegrityScan: Sendable {
    /// The node's integrity files, in walk order: what a worker sends as `files_metadata.json`.
    public var metadata: IntegrityMetadata
    /// Files or directories that could not be read; they are left out of `metadata`.
    public var issues: [ScanIssue]
    /// Files whose content was read this time.
    public var hashedCount: Int
    /// Files whose hash came from the cache.
    public var reusedCount: Int
}

/// `get_files_status` (PROTOCOL.md §5.1–§5.2): walks a home, hashes what changed since the last scan on
/// all cores, and builds the metadata. There is no GIL here, so the hashing is spread over a thread per
/// core; the walk stays on the calling thread because it is cheap next to reading the files.
public struct IntegrityScanner: Sendable {
    public var walker: IntegrityWalker
    /// Threads used for hashing.
    public var concurrency: Int

    public init(home: String, items: ClusterItems = .wazuh481, concurrency: Int? = nil) {
        walker = IntegrityWalker(home: home, items: items)
        self.concurrency = max(1, concurrency ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public var home: String { walker.home }

    /// Scans the home; `cache` supplies hashes of unchanged files and is replaced by this scan's hashes
    /// (files no longer present drop out of it).
    public func scan(cache: inout HashCache, progress: ScanProgress? = nil) -> IntegrityScan {
        let (files, walkIssues) = walker.walk()
        return hash(files, issues: walkIssues, cache: &cache, progress: progress)
    }

    /// Metadata of chosen files only (e.g. to pack them), each held to the cluster item rules.
    public func scan(paths: [String]) throws(ScanSelectionError) -> IntegrityScan {
        var files: [WalkedFile] = []
        var issues: [ScanIssue] = []
        for path in paths {
            let item: ClusterItem
            switch walker.items.owner(of: path) {
            case .success(let owner): item = owner
            case .failure(let problem): throw ScanSelectionError(path: path, problem: problem)
            }
            var st = stat()
            if stat(walker.home + "/" + path, &st) != 0 {
                let e = errno
                issues.append(ScanIssue(path: path, kind: e == ENOENT ? .vanished : .unreadable,
                                        reason: String(cString: strerror(e))))
                continue
            }
            files.append(WalkedFile(path: path, itemKey: item.key, stamp: IntegrityWalker.stamp(st)))
        }
        var cache = HashCache()
        return hash(files, issues: issues, cache: &cache, progress: nil)
    }

    private func hash(_ files: [WalkedFile], issues walkIssues: [ScanIssue], cache: inout HashCache,
                      progress: ScanProgress?) -> IntegrityScan {
        var hashes = [String?](repeating: nil, count: files.count)
        var toHash: [Int] = []
        for (i, file) in files.enumerated() {
            if let h = cache.hash(for: file.path, stamp: file.stamp) { hashes[i] = h } else { toHash.append(i) }
        }
        progress?.start(total: toHash.count)
        let outcomes = hashInParallel(files: files, indices: toHash, progress: progress)

        var issues = walkIssues
        var newCache = HashCache()
        newCache.reserveCapacity(files.count)
        var hashed = 0
        for (k, i) in toHash.enumerated() {
            switch outcomes[k] {
            case .success(let h): hashes[i] = h; hashed += 1
            case .failure(let e):
                let kind: ScanIssue.Kind = e.errno == ENOENT ? .vanished : .unreadable
                issues.append(ScanIssue(path: files[i].path, kind: kind, reason: e.reason))
            }
        }
        var metadata = IntegrityMetadata()
        for (i, file) in files.enumerated() {
            guard let hash = hashes[i] else { continue }
            newCache.store(hash, for: file.path, stamp: file.stamp)
            metadata[file.path] = makeMetadata(file, hash: hash)
        }
        cache = newCache
        return IntegrityScan(metadata: metadata, issues: issues, hashedCount: hashed,
                             reusedCount: files.count - toHash.count)
    }

    private func makeMetadata(_ file: WalkedFile, hash: String) -> FileMetadata {
        let modTime = FileMetadata.modTime(seconds: file.stamp.modSeconds, nanoseconds: file.stamp.modNanoseconds)
        // §5.2: "merged" is a substring test on the basename; the merge name is the absolute path.
        if RelativePath.basename(file.path).contains(".merged") {
            return FileMetadata(modTime: modTime, clusterItemKey: file.itemKey, merged: true, mergeType: "TYPE",
                                mergeName: walker.home + "/" + file.path, hash: hash)
        }
        return FileMetadata(modTime: modTime, clusterItemKey: file.itemKey, hash: hash)
    }

    /// Hashes `files[indices]`, returning one outcome per index, in order. Work is cut into more chunks
    /// than threads so a thread that drew large files does not hold the others up.
    private func hashInParallel(files: [WalkedFile], indices: [Int],
                                progress: ScanProgress?) -> [Result<String, SystemCallError>] {
        let n = indices.count
        guard n > 0 else { return [] }
        let results = UnsafeMutableBufferPointer<Result<String, SystemCallError>>.allocate(capacity: n)
        results.initialize(repeating: .success(""))
        defer { results.deinitialize(); results.deallocate() }
        let chunks = min(n, concurrency == 1 ? 1 : concurrency * 8)
        let shared = SharedOutput(results)
        let home = walker.home
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = n * chunk / chunks
            let end = n * (chunk + 1) / chunks
            let hasher = FileHasher()
            for k in start..<end {
                let path = home + "/" + files[indices[k]].path
                do throws(SystemCallError) {
                    shared.buffer[k] = .success(try hasher.hashFile(atPath: path))
                } catch {
                    shared.buffer[k] = .failure(error)
                }
            }
            progress?.add(end - start)
        }
        return Array(results)
    }
}

/// Lets the hashing threads write their own, disjoint slots of one result buffer.
private struct SharedOutput<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

/// A path given to `scan(paths:)` that is not an integrity file.
public struct ScanSelectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var problem: ItemPathProblem
    public var description: String { "\(path): \(problem)" }
}
