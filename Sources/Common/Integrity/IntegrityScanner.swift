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

/// `get_files_status` (PROTOCOL.md §5.1–§5.2): walks a home, hashes what changed since the last scan,
/// and builds the metadata. There is no GIL here, so after the walk has listed the candidate names, the
/// `stat`, cache check and hashing of each directory's files run on all cores; a rescan of unchanged
/// files is then mostly parallel `fstatat` calls.
public struct IntegrityScanner: Sendable {
    public var walker: IntegrityWalker
    /// 1 keeps all work on the calling thread; any other value spreads it over every CPU (Dispatch sizes
    /// the pool to the machine).
    public var concurrency: Int

    public init(home: String, items: ClusterItems = .wazuh481, concurrency: Int? = nil) {
        walker = IntegrityWalker(home: home, items: items)
        self.concurrency = max(1, concurrency ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public var home: String { walker.home }

    /// Scans the home; `cache` supplies hashes of unchanged files and is replaced by this scan's hashes
    /// (files no longer present drop out of it).
    public func scan(cache: inout HashCache, progress: ScanProgress? = nil) -> IntegrityScan {
        let (batches, issues) = walker.walk()
        return process(batches, issues: issues, cache: &cache, strict: false, progress: progress)
    }

    /// Metadata of chosen files only (e.g. to pack them), each held to the cluster item rules; a path
    /// that is not a regular file is reported as an issue.
    public func scan(paths: [String]) throws(ScanSelectionError) -> IntegrityScan {
        var batches: [WalkBatch] = []
        for path in paths {
            let item: ClusterItem
            switch walker.items.owner(of: path) {
            case .success(let owner): item = owner
            case .failure(let problem): throw ScanSelectionError(path: path, problem: problem)
            }
            let slash = path.lastIndex(of: "/")!  // every item path has a directory part
            let directory = String(path[..<slash]), name = String(path[path.index(after: slash)...])
            if let last = batches.last, last.directory == directory, last.itemKey == item.key {
                batches[batches.count - 1].names.append(name)
            } else {
                batches.append(WalkBatch(directory: directory, itemKey: item.key, names: [name]))
            }
        }
        var cache = HashCache()
        return process(batches, issues: [], cache: &cache, strict: true, progress: nil)
    }

    /// One unit of parallel work: a slice of a directory's names.
    private struct Unit {
        var batch: Int
        var range: Range<Int>
    }

    /// What one unit found: files with their hash, or nil hash when it could not be read.
    private struct UnitResult {
        var files: [(file: WalkedFile, hash: String?, merged: Bool)] = []
        var issues: [ScanIssue] = []
        var hashed = 0
        var reused = 0
    }

    private func process(_ batches: [WalkBatch], issues walkIssues: [ScanIssue], cache: inout HashCache,
                         strict: Bool, progress: ScanProgress?) -> IntegrityScan {
        // Large directories are cut so one of them cannot keep a single thread busy while others idle.
        var units: [Unit] = []
        var total = 0
        for (b, batch) in batches.enumerated() {
            total += batch.names.count
            for start in stride(from: 0, to: batch.names.count, by: 256) {
                units.append(Unit(batch: b, range: start..<min(start + 256, batch.names.count)))
            }
        }
        progress?.start(total: total)
        let previous = cache, home = walker.home, allUnits = units
        let results = UnsafeMutableBufferPointer<UnitResult>.allocate(capacity: units.count)
        results.initialize(repeating: UnitResult())
        defer { results.deinitialize(); results.deallocate() }
        let output = SharedOutput(results)
        let work: @Sendable (Int) -> Void = { u in
            let unit = allUnits[u], batch = batches[unit.batch]
            output.buffer[u] = Self.run(unit, batch, home: home, cache: previous, strict: strict, progress: progress)
        }
        if concurrency == 1 || units.count < 2 {
            for u in units.indices { work(u) }
        } else {
            ParallelLoop.forEach(units.count, work)
        }

        var metadata = IntegrityMetadata(minimumCapacity: total)
        var newCache = HashCache()
        newCache.reserveCapacity(total)
        var issues = walkIssues
        var hashed = 0, reused = 0
        for result in results {
            issues += result.issues
            hashed += result.hashed
            for (file, hash, merged) in result.files {
                guard let hash else { continue }
                newCache.store(hash, for: file.path, stamp: file.stamp)
                // An overlapping later item takes a file over, as the Python dict update did.
                metadata[file.path] = makeMetadata(file, hash: hash, merged: merged)
            }
            reused += result.reused
        }
        cache = newCache
        return IntegrityScan(metadata: metadata, issues: issues, hashedCount: hashed, reusedCount: reused)
    }

    /// stat, cache check and hash for one unit, inside its directory (one path component per call).
    private static func run(_ unit: Unit, _ batch: WalkBatch, home: String, cache: HashCache, strict: Bool,
                            progress: ScanProgress?) -> UnitResult {
        var result = UnitResult()
        defer { progress?.add(unit.range.count - result.hashed) }
        let dirfd = open(home + "/" + batch.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd < 0 {
            let e = errno
            if strict {
                for name in batch.names[unit.range] { result.issues.append(ScanIssue(path: batch.directory + "/" + name, errno: e)) }
            } else if unit.range.lowerBound == 0 {
                result.issues.append(ScanIssue(path: batch.directory + "/", errno: e))
            }
            return result
        }
        defer { close(dirfd) }
        var hasher: FileHasher?
        for name in batch.names[unit.range] {
            let path = batch.directory + "/" + name
            var st = stat()
            if fstatat(dirfd, name, &st, 0) != 0 {
                result.issues.append(ScanIssue(path: path, errno: errno))
                continue
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                // A link to a directory (never entered) or to a device; named files must be files.
                if strict { result.issues.append(ScanIssue(path: path, kind: .unreadable, reason: "not a regular file")) }
                continue
            }
            let file = WalkedFile(path: path, itemKey: batch.itemKey, stamp: IntegrityWalker.stamp(st))
            let merged = isMergedName(name)
            if let h = cache.hash(for: path, stamp: file.stamp) {
                result.files.append((file, h, merged))
                result.reused += 1
                continue
            }
            if hasher == nil { hasher = FileHasher() }
            do throws(SystemCallError) {
                let h = try hasher!.hashFile(in: dirfd, name: name, path: path)
                result.files.append((file, h, merged))
                result.hashed += 1
                progress?.add(1)
            } catch {
                result.files.append((file, nil, merged))
                result.issues.append(ScanIssue(path: path, errno: error.errno))
            }
        }
        return result
    }

    /// §5.2: `merged` is a substring test for ".merged" on the basename (bytes, not Foundation's search).
    static func isMergedName(_ name: String) -> Bool {
        let needle = Array(".merged".utf8)
        let bytes = Array(name.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == 0x2E {
            if bytes[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }

    private func makeMetadata(_ file: WalkedFile, hash: String, merged: Bool) -> FileMetadata {
        let modTime = FileMetadata.modTime(seconds: file.stamp.modSeconds, nanoseconds: file.stamp.modNanoseconds)
        if merged {
            return FileMetadata(modTime: modTime, clusterItemKey: file.itemKey, merged: true, mergeType: "TYPE",
                                mergeName: walker.home + "/" + file.path, hash: hash)
        }
        return FileMetadata(modTime: modTime, clusterItemKey: file.itemKey, hash: hash)
    }
}

/// Lets the worker threads write their own, disjoint slots of one result buffer.
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
