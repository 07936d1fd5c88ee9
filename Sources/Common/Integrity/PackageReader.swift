/// One file carried by a package.
public struct PackageFile: Equatable, Sendable {
    public var path: String
    public var content: [UInt8]
}

/// What `files_metadata.json` holds: a worker's flat metadata, or a master's three groups.
public enum PackageMetadata: Equatable, Sendable {
    case node(IntegrityMetadata)
    case sync(IntegrityDiff)
}

/// A package read and checked in full.
public struct IntegrityPackage: Sendable {
    public var format: PackageFormat
    /// Files in package order (the metadata entry excluded).
    public var files: [PackageFile]
    public var metadata: PackageMetadata
    /// `files_metadata.json` as received.
    public var metadataBytes: [UInt8]
}

/// Reads either package format and refuses anything a hostile or broken peer could use to write outside
/// the cluster items: unsafe paths, paths no item accepts, excluded files, links and other non-regular
/// entries, duplicates, more than `maxDecompressedSize` bytes of content in total (4.14.7's zip-bomb
/// limit), and damaged or cut-short data. Everything is checked before a caller writes anything. The
/// checks are `PackageStreamReader`'s; this collects the files in memory.
public struct PackageReader: Sendable {
    public var items: ClusterItems
    /// Decompressed bytes allowed for all entries together, metadata included.
    public var maxDecompressedSize: Int

    public init(items: ClusterItems = .wazuh481, maxDecompressedSize: Int = IntegrityConstants.maxZipSize) {
        self.items = items
        self.maxDecompressedSize = maxDecompressedSize
    }

    public func read(_ bytes: [UInt8]) throws(PackageError) -> IntegrityPackage {
        var files: [PackageFile] = []
        let streamed = try PackageStreamReader(items: items, maxDecompressedSize: maxDecompressedSize)
            .read(bytes: bytes) { files.append($0) }
        return IntegrityPackage(format: streamed.format, files: files, metadata: streamed.metadata,
                                metadataBytes: streamed.metadataBytes)
    }
}
