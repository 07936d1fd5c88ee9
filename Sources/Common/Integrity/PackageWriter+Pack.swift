import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What packing a diff's files produced.
struct PackedFiles {
    var included: [String] = []
    var skipped: [SkippedFile] = []
    /// The diff with every skipped file taken out (and unreadable shared files moved to `extra`).
    var groups = IntegrityDiff()
}

extension PackageWriter {
    /// A batch ends at this many files or once its files hold this many bytes: enough work to keep every
    /// core busy, little enough memory.
    static let batchFiles = 64
    static let batchBytes = 16 << 20

    private struct Candidate: Sendable {
        let path: String
        let isMissing: Bool
        let metadata: FileMetadata
        let permissions: Int
        /// Why the path must not be packed; such a file is never opened.
        let problem: ItemPathProblem?
    }

    /// One file after the parallel phase.
    private enum Prepared<Entry: Sendable>: Sendable {
        case entry(Entry)
        case tooLarge(Int)
        case unreadable(String)
        case cannotEncode
        case badPath(ItemPathProblem)
        case failed(PackageError)
    }

    /// §5.5: files of `missing` then `shared`; a file over the limit is skipped, the first one that
    /// would take the total past it and all later ones are left for a later round, an unreadable shared
    /// file moves to `extra`. Batches are compressed in parallel, then their entries are appended in
    /// order, so the decisions (and the bytes) are those of a sequential pass.
    func pack<E: PackageEncoder>(_ diff: IntegrityDiff, into encoder: inout E) throws(PackageError) -> PackedFiles {
        var result = PackedFiles()
        result.groups = diff
        let candidates = (diff.missing.map { ($0.path, $0.metadata, true) } + diff.shared.map { ($0.path, $0.metadata, false) })
            .map { path, metadata, isMissing in
                // The paths come from our own walk, but a diff can also be loaded from a file: hold it to
                // the rules a receiver applies, so every package written here is one a reader accepts.
                var problem: ItemPathProblem?
                if case .failure(let p) = items.owner(of: path, declaredKey: metadata.clusterItemKey) { problem = p }
                return Candidate(path: path, isMissing: isMissing, metadata: metadata,
                                 permissions: items[metadata.clusterItemKey]?.permissions ?? 0o640, problem: problem)
            }
        // Removals are applied in one pass at the end: removing one path at a time from the ordered
        // groups is linear, and a full package can drop thousands of files.
        var droppedMissing = Set<String>(), droppedShared = Set<String>()
        var total = 0
        var full = false
        var start = 0
        while start < candidates.count {
            let batch = full ? candidates[start...] : nextBatch(candidates, from: start)
            let prepared = full ? [] : prepare(batch, with: encoder.compressor)
            for (offset, candidate) in batch.enumerated() {
                func drop(_ reason: SkippedFile.Reason) {
                    result.skipped.append(SkippedFile(path: candidate.path, reason: reason))
                    if candidate.isMissing { droppedMissing.insert(candidate.path) } else { droppedShared.insert(candidate.path) }
                }
                // Once full, files already compressed in this batch are left out like every later one.
                if full { drop(.limitReached); continue }
                switch prepared[offset] {
                case .badPath(let problem): throw PackageError.entry(candidate.path, problem)
                case .failed(let error): throw error
                case .tooLarge(let size): drop(.tooLarge(size: size, limit: limit))
                case .cannotEncode: drop(.separatorCollision)
                case .unreadable(let reason):
                    // §5.5: a file that cannot be read is not sent; a shared one is deleted on the worker.
                    drop(.unreadable(reason))
                    if !candidate.isMissing { result.groups.extra[candidate.path] = candidate.metadata }
                case .entry(let entry):
                    if encoder.footprint(entry) > limit - total {
                        full = true
                        drop(.limitReached)
                    } else {
                        total += encoder.footprint(entry)
                        try encoder.append(entry)
                        result.included.append(candidate.path)
                    }
                }
            }
            start = batch.endIndex
        }
        result.groups.missing.remove(droppedMissing)
        result.groups.shared.remove(droppedShared)
        return result
    }

    /// Candidates from `start` up to `batchFiles` of them or `batchBytes` of content (sizes from `stat`;
    /// files over the limit are never read, so they do not count).
    private func nextBatch(_ candidates: [Candidate], from start: Int) -> ArraySlice<Candidate> {
        var end = start
        var bytes = 0
        while end < candidates.count && end - start < Self.batchFiles && bytes < Self.batchBytes {
            var st = stat()
            if candidates[end].problem == nil && stat(home + "/" + candidates[end].path, &st) == 0 && Int(st.st_size) <= limit {
                bytes += Int(st.st_size)
            }
            end += 1
        }
        return candidates[start..<end]
    }

    /// Reads and compresses a batch, on all cores when `parallel`.
    private func prepare<C: EntryCompressor>(_ batch: ArraySlice<Candidate>, with compressor: C) -> [Prepared<C.Entry>] {
        let files = Array(batch)
        let slots = UnsafeMutableBufferPointer<Prepared<C.Entry>?>.allocate(capacity: files.count)
        slots.initialize(repeating: nil)
        // Deinitialised too: the slots hold references (the compressed entries) that must be released.
        defer {
            slots.deinitialize()
            slots.deallocate()
        }
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let shared = slots
        let work: @Sendable (Int) -> Void = { i in shared[i] = self.prepare(files[i], with: compressor) }
        if parallel && files.count > 1 {
            ParallelLoop.forEach(files.count, work)
        } else {
            for i in files.indices { work(i) }
        }
        return slots.map { $0! }
    }

    private func prepare<C: EntryCompressor>(_ candidate: Candidate, with compressor: C) -> Prepared<C.Entry> {
        if let problem = candidate.problem { return .badPath(problem) }
        let file: (content: [UInt8], modTime: Int)
        do { file = try readFile(candidate.path) } catch {
            switch error {
            case .tooLarge(let size): return .tooLarge(size)
            case .system(let e): return .unreadable(e.reason)
            }
        }
        do {
            let entry = try file.content.withUnsafeBytes { raw in
                Result { () throws(PackageError) in
                    try compressor.compress(path: candidate.path, content: raw, permissions: candidate.permissions,
                                            modTime: file.modTime)
                }
            }.get()
            return entry.map { .entry($0) } ?? .cannotEncode
        } catch {
            return .failed(error)
        }
    }

    private enum ReadFailure: Error {
        case tooLarge(Int)
        case system(SystemCallError)
    }

    /// Reads a file unless its size alone exceeds the limit (checked before reading, as 4.8.1 does).
    private func readFile(_ path: String) throws(ReadFailure) -> (content: [UInt8], modTime: Int) {
        let absolute = home + "/" + path
        let fd = open(absolute, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        if fd < 0 { throw .system(SystemCallError("open", path: absolute, errno: errno)) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw .system(SystemCallError("stat", path: absolute, errno: errno)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .system(SystemCallError("read", path: absolute, errno: EISDIR))
        }
        if Int(st.st_size) > limit { throw .tooLarge(Int(st.st_size)) }
        let content: [UInt8]
        do { content = try FileIO.readAll(fd: fd, path: absolute, sizeHint: Int(st.st_size)) } catch {
            throw .system(error)
        }
        // The file may have grown since fstat.
        if content.count > limit { throw .tooLarge(content.count) }
        return (content, IntegrityWalker.stamp(st).modSeconds)
    }
}
