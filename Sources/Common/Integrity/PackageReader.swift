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
/// limit), and damaged or cut-short data. Everything is checked before a caller writes anything.
public struct PackageReader: Sendable {
    public var items: ClusterItems
    /// Decompressed bytes allowed for all entries together, metadata included.
    public var maxDecompressedSize: Int

    public init(items: ClusterItems = .wazuh481, maxDecompressedSize: Int = IntegrityConstants.maxZipSize) {
        self.items = items
        self.maxDecompressedSize = maxDecompressedSize
    }

    public func read(_ bytes: [UInt8]) throws(PackageError) -> IntegrityPackage {
        var collector = EntryCollector(items: items, budget: maxDecompressedSize)
        let format = PackageFormat.detect(bytes)
        switch format {
        case .wazuh: try readContainer(bytes, into: &collector)
        case .zip: try readZip(bytes, into: &collector)
        }
        guard let metadataBytes = collector.metadataBytes else { throw .missingMetadata }
        let metadata = try parseMetadata(metadataBytes)
        return IntegrityPackage(format: format, files: collector.files, metadata: metadata, metadataBytes: metadataBytes)
    }

    private func readContainer(_ bytes: [UInt8], into collector: inout EntryCollector) throws(PackageError) {
        for piece in try WazuhContainer.pieces(bytes) {
            guard let path = String(validating: piece.path, as: UTF8.self) else {
                throw .corrupt("an entry name is not valid UTF-8")
            }
            try collector.accept(path: path)
            let content: [UInt8]
            do { content = try Zlib.decompress(piece.data, limit: collector.budget) } catch {
                switch error {
                case .tooLarge: throw .tooLarge(limit: maxDecompressedSize)
                case .truncated: throw .truncated("entry '\(path)': \(error)")
                default: throw .corrupt("entry '\(path)': \(error)")
                }
            }
            collector.store(path: path, content: content)
        }
    }

    private func readZip(_ bytes: [UInt8], into collector: inout EntryCollector) throws(PackageError) {
        let limit = maxDecompressedSize
        try ZipArchiveReader.forEachEntry(bytes) { (entry, readData) throws(PackageError) in
            switch entry.kind {
            case .directory:
                // Directory entries (from `zip -r`) are implied by the files; only their names are checked.
                var name = Substring(entry.path)
                while name.hasSuffix("/") { name = name.dropLast() }
                if let reason = RelativePath.problem(in: String(name)) { throw .unsafePath(entry.path, reason: reason) }
            case .other(let type):
                throw .unsupportedEntryType(entry.path, type: type)
            case .file:
                try collector.accept(path: entry.path)
                let content: [UInt8]
                do throws(PackageError) { content = try readData(collector.budget) } catch {
                    if case .tooLarge = error { throw .tooLarge(limit: limit) }
                    throw error
                }
                collector.store(path: entry.path, content: content)
            }
        }
    }

    /// Parses the metadata and holds every path in it to the same rules as the entries, with the item it
    /// names: the groups tell a worker what to write and delete, so they are as dangerous as the files.
    private func parseMetadata(_ bytes: [UInt8]) throws(PackageError) -> PackageMetadata {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw .invalidMetadata(error.description) }
        let metadata: PackageMetadata
        do {
            metadata = IntegrityDiff.isGroupObject(json) ? .sync(try IntegrityDiff(json: json))
                                                         : .node(try IntegrityMetadata(json: json))
        } catch { throw .invalidMetadata(error.description) }
        let groups: [IntegrityMetadata]
        switch metadata {
        case .node(let m): groups = [m]
        case .sync(let d): groups = [d.missing, d.extra, d.shared]
        }
        for group in groups {
            for (path, m) in group {
                if case .failure(let problem) = items.owner(of: path, declaredKey: m.clusterItemKey) {
                    throw PackageError.entry(path, problem)
                }
            }
        }
        return metadata
    }
}

/// Checks entry names as they arrive and keeps the decompression budget.
private struct EntryCollector {
    let items: ClusterItems
    var budget: Int
    var seen: Set<String> = []
    var files: [PackageFile] = []
    var metadataBytes: [UInt8]?

    init(items: ClusterItems, budget: Int) {
        self.items = items
        self.budget = budget
    }

    /// Validates a name before its content is decompressed.
    mutating func accept(path: String) throws(PackageError) {
        guard seen.insert(path).inserted else { throw .duplicateEntry(path) }
        if path == IntegrityConstants.metadataEntryName { return }
        if case .failure(let problem) = items.owner(of: path) { throw PackageError.entry(path, problem) }
    }

    mutating func store(path: String, content: [UInt8]) {
        budget -= content.count
        if path == IntegrityConstants.metadataEntryName { metadataBytes = content } else {
            files.append(PackageFile(path: path, content: content))
        }
    }
}
