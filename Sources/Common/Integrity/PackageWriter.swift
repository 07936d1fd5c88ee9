#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file left out of a package, and why (PROTOCOL.md §5.5).
public struct SkippedFile: Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// Larger than the limit by itself; dropped from the metadata.
        case tooLarge(size: Int, limit: Int)
        /// The package was full; this file and every later one wait for a later round.
        case limitReached
        /// Could not be read (deleted meanwhile…): dropped from `missing`, moved from `shared` to `extra`.
        case unreadable(String)
        /// Its bytes clash with the 4.8.1 separators at every compression level.
        case separatorCollision
    }
    public var path: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case let .tooLarge(size, limit): return "File too large to be synced: \(path) (\(size) bytes, limit \(limit))"
        case .limitReached: return "Maximum zip size exceeded, left for a later sync: \(path)"
        case .unreadable(let why): return "Cannot read \(path), not synced: \(why)"
        case .separatorCollision: return "Cannot store \(path) in a 4.8.1 package (separator clash), not synced"
        }
    }
}

/// A package built by `PackageWriter`.
public struct PackageBuild: Sendable {
    public var format: PackageFormat
    public var bytes: [UInt8]
    /// Files stored in the package, in order.
    public var included: [String]
    public var skipped: [SkippedFile]
    /// The groups as written to `files_metadata.json` (sync packages), adjusted for skipped files.
    public var diff: IntegrityDiff?
    /// The exact `files_metadata.json` text.
    public var metadataBytes: [UInt8]
    /// §5.5's warning, logged once when the limit stopped the packing.
    public var limitReached: Bool { skipped.contains { $0.reason == .limitReached } }
}

/// `compress_files` (PROTOCOL.md §5.3, §5.5) for both formats. A worker's package carries only its
/// metadata; a master's carries the `missing` and `shared` files plus the three groups, trimmed so the
/// worker is never told to expect a file the package does not hold.
public struct PackageWriter: Sendable {
    public var format: PackageFormat
    /// Node home the files are read from.
    public var home: String
    public var items: ClusterItems
    /// The limit L: no file larger than L, and entries only while their running total stays within L.
    public var limit: Int
    public var compressLevel: Int

    public init(format: PackageFormat, home: String, items: ClusterItems = .wazuh481,
                limit: Int = IntegrityConstants.maxZipSize, compressLevel: Int = IntegrityConstants.compressLevel) {
        self.format = format
        self.home = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        self.items = items
        self.limit = limit
        self.compressLevel = compressLevel
    }

    /// The worker's package: `files_metadata.json` = the flat metadata, nothing else (§5.4).
    public func metadataPackage(_ metadata: IntegrityMetadata) throws(PackageError) -> PackageBuild {
        var encoder = try makeEncoder()
        let json = metadata.pythonJSONBytes
        let bytes = try encoder.finish(metadata: json)
        return PackageBuild(format: format, bytes: bytes, included: [], skipped: [], diff: nil, metadataBytes: json)
    }

    /// The master's package: the files of `missing` then `shared`, read from `home`, then the groups.
    public func syncPackage(_ diff: IntegrityDiff) throws(PackageError) -> PackageBuild {
        var encoder = try makeEncoder()
        var groups = diff
        var included: [String] = []
        var skipped: [SkippedFile] = []
        var total = 0
        var full = false
        let candidates = diff.missing.paths.map { ($0, true) } + diff.shared.paths.map { ($0, false) }
        // Removals are applied in one pass at the end: removing one path at a time from the ordered
        // groups is linear, and a full package can drop thousands of files.
        var droppedMissing = Set<String>(), droppedShared = Set<String>()
        for (path, isMissing) in candidates {
            let metadata = isMissing ? diff.missing[path]! : diff.shared[path]!
            func drop(_ reason: SkippedFile.Reason) {
                skipped.append(SkippedFile(path: path, reason: reason))
                if isMissing { droppedMissing.insert(path) } else { droppedShared.insert(path) }
            }
            if full { drop(.limitReached); continue }
            // The paths come from our own walk, but a diff can also be loaded from a file: hold it to the
            // rules a receiver applies, so every package written here is one a reader accepts.
            if case .failure(let problem) = items.owner(of: path, declaredKey: metadata.clusterItemKey) {
                throw PackageError.entry(path, problem)
            }
            let file: (content: [UInt8], modTime: Int)
            do { file = try readFile(path) } catch {
                switch error {
                case .tooLarge(let size):
                    drop(.tooLarge(size: size, limit: limit))
                case .system(let e):
                    // §5.5: a file that cannot be read is not sent; a shared one is deleted on the worker.
                    drop(.unreadable(e.reason))
                    if !isMissing { groups.extra[path] = metadata }
                }
                continue
            }
            let permissions = items[metadata.clusterItemKey]?.permissions ?? 0o640
            let outcome = try file.content.withUnsafeBytes { raw in
                Result { () throws(PackageError) in
                    try encoder.append(path: path, content: raw, permissions: permissions,
                                       modTime: file.modTime, remaining: limit - total)
                }
            }.get()
            switch outcome {
            case .added(let size): total += size; included.append(path)
            case .doesNotFit: full = true; drop(.limitReached)
            case .cannotEncode: drop(.separatorCollision)
            }
        }
        groups.missing.remove(droppedMissing)
        groups.shared.remove(droppedShared)
        let json = PythonJSONEncoder().encodeBytes(groups.json)
        let bytes = try encoder.finish(metadata: json)
        return PackageBuild(format: format, bytes: bytes, included: included, skipped: skipped, diff: groups,
                            metadataBytes: json)
    }

    private func makeEncoder() throws(PackageError) -> any PackageEncoder {
        switch format {
        case .wazuh: return WazuhContainerEncoder(level: compressLevel)
        case .zip: return try ZipEncoder(level: compressLevel)
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
