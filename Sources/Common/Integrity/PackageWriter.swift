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
    /// The package, when built in memory; empty when it was written to a file.
    public var bytes: [UInt8]
    /// Size of the package in bytes, wherever it went.
    public var size: Int
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
///
/// A package can be built in memory or written straight to a file; both go through the same encoder and
/// give the same bytes. Files are read and compressed in batches on all cores, then appended in order, so
/// memory holds one batch of files rather than the package.
public struct PackageWriter: Sendable {
    public var format: PackageFormat
    /// Node home the files are read from.
    public var home: String
    public var items: ClusterItems
    /// The limit L: no file larger than L, and entries only while their running total stays within L.
    public var limit: Int
    public var compressLevel: Int
    /// Read and compress a batch of files on all cores; same output either way.
    public var parallel = true
    /// Modification time given to the zip entry `files_metadata.json`; nil for the time of writing.
    public var metadataModTime: Int?

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
        try build(into: .memory(), diff: nil, metadata: metadata)
    }

    /// `metadataPackage` written to `path` (created or truncated; removed again on error).
    public func metadataPackage(_ metadata: IntegrityMetadata, toFile path: String) throws(PackageError) -> PackageBuild {
        try build(into: .file(path), diff: nil, metadata: metadata)
    }

    /// The master's package: the files of `missing` then `shared`, read from `home`, then the groups.
    public func syncPackage(_ diff: IntegrityDiff) throws(PackageError) -> PackageBuild {
        try build(into: .memory(), diff: diff, metadata: nil)
    }

    /// `syncPackage` written to `path` (created or truncated; removed again on error).
    public func syncPackage(_ diff: IntegrityDiff, toFile path: String) throws(PackageError) -> PackageBuild {
        try build(into: .file(path), diff: diff, metadata: nil)
    }

    /// `syncPackage` handed to `take` while it is written, in chunks of `chunkSize` bytes (the last one
    /// shorter), so that sending it overlaps building it. An error thrown by `take` stops the writing and
    /// is rethrown.
    public func syncPackage(_ diff: IntegrityDiff, chunkSize: Int,
                            streamingTo take: @escaping ([UInt8]) throws(PackageError) -> Void) throws(PackageError) -> PackageBuild {
        try build(into: .stream(chunkSize: chunkSize, take), diff: diff, metadata: nil)
    }

    private func build(into sink: PackageSink, diff: IntegrityDiff?,
                       metadata: IntegrityMetadata?) throws(PackageError) -> PackageBuild {
        switch format {
        case .wazuh:
            var encoder = WazuhContainerEncoder(level: compressLevel, sink: sink)
            return try build(&encoder, diff: diff, metadata: metadata)
        case .zip:
            var encoder = try ZipEncoder(level: compressLevel, sink: sink)
            return try build(&encoder, diff: diff, metadata: metadata)
        }
    }

    private func build<E: PackageEncoder>(_ encoder: inout E, diff: IntegrityDiff?,
                                          metadata: IntegrityMetadata?) throws(PackageError) -> PackageBuild {
        do {
            var packed = PackedFiles()
            let json: [UInt8]
            if let diff {
                packed = try pack(diff, into: &encoder)
                json = PythonJSONEncoder().encodeBytes(packed.groups.json)
            } else {
                json = (metadata ?? IntegrityMetadata()).pythonJSONBytes
            }
            let bytes = try encoder.finish(metadata: json, modTime: metadataModTime ?? Int(time(nil)))
            return PackageBuild(format: format, bytes: bytes, size: encoder.size, included: packed.included,
                                skipped: packed.skipped, diff: diff == nil ? nil : packed.groups, metadataBytes: json)
        } catch {
            encoder.discard()
            throw error
        }
    }
}
