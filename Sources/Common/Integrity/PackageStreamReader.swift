#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What remains of a package read as a stream once its files have been handed over.
public struct StreamedPackage: Sendable {
    public var format: PackageFormat
    public var metadata: PackageMetadata
    /// `files_metadata.json` as received.
    public var metadataBytes: [UInt8]
    /// Files delivered, the metadata entry excluded.
    public var fileCount: Int
}

/// Reads a package of either format one entry at a time, holding one file's content (plus a read window)
/// instead of the package. It makes every check `PackageReader` makes, and makes each before the caller
/// can act on it: a name is checked before its content is even decompressed, the decompression budget
/// as bytes come out, an entry's checksum before it is delivered, duplicates as they appear. Damage
/// found later (a truncated end, missing or hostile metadata) is thrown after earlier files were
/// delivered, so a caller must treat what it received as provisional until `read` returns.
public struct PackageStreamReader: Sendable {
    public var items: ClusterItems
    /// Decompressed bytes allowed for all entries together, metadata included.
    public var maxDecompressedSize: Int
    /// Bytes read at a time from a 4.8.1 container.
    public var readSize: Int

    public init(items: ClusterItems = .wazuh481, maxDecompressedSize: Int = IntegrityConstants.maxZipSize,
                readSize: Int = 1 << 20) {
        self.items = items
        self.maxDecompressedSize = maxDecompressedSize
        self.readSize = readSize
    }

    /// Reads the package file at `path`, calling `body` with each file in package order.
    public func read(file path: String,
                     _ body: (PackageFile) throws(PackageError) -> Void) throws(PackageError) -> StreamedPackage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .io(SystemCallError("open", path: path, errno: errno)) }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 4)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
        if n < 0 { throw .io(SystemCallError("read", path: path, errno: errno)) }
        return try read(format: PackageFormat.detect(Array(head.prefix(n))),
                        container: FilePackageSource(fd: fd, path: path),
                        zip: .descriptor(fd), body)
    }

    /// The same for a package still being received: bytes are read as they arrive, and the read ends (or
    /// fails) with the transfer. A zip is read by its local headers, since the central directory comes
    /// last; it must still end with one, so a package cut short is refused as it would be from a file.
    public func read(incoming file: IncomingFile,
                     _ body: (PackageFile) throws(PackageError) -> Void) throws(PackageError) -> StreamedPackage {
        let source = try IncomingFileSource(file)
        defer { source.close() }
        return try read(format: PackageFormat.detect(try source.head(4)), container: source, zip: .stream(source), body)
    }

    /// The same for a package held in memory.
    public func read(bytes: [UInt8],
                     _ body: (PackageFile) throws(PackageError) -> Void) throws(PackageError) -> StreamedPackage {
        try read(format: PackageFormat.detect(bytes), container: MemoryPackageSource(bytes: bytes),
                 zip: .memory(bytes), body)
    }

    private func read<Source: PackageByteSource>(
        format: PackageFormat, container: Source, zip: ZipArchiveReader.Input,
        _ body: (PackageFile) throws(PackageError) -> Void
    ) throws(PackageError) -> StreamedPackage {
        var checker = EntryChecker(items: items, budget: maxDecompressedSize)
        var count = 0
        func deliver(_ file: PackageFile) throws(PackageError) {
            count += 1
            try body(file)
        }
        switch format {
        case .wazuh:
            var parser = try ContainerStreamParser(source: container, readSize: readSize)
            try parser.parse(checker: &checker, budgetLimit: maxDecompressedSize, deliver)
        case .zip:
            try ZipArchiveReader.forEachEntry(zip) { (entry, readData) throws(PackageError) in
                try zipEntry(entry, readData, checker: &checker, deliver)
            }
        }
        let (metadata, metadataBytes) = try checker.metadata()
        return StreamedPackage(format: format, metadata: metadata, metadataBytes: metadataBytes, fileCount: count)
    }

    private func zipEntry(_ entry: ZipArchiveReader.Entry, _ readData: (Int) throws(PackageError) -> [UInt8],
                          checker: inout EntryChecker,
                          _ deliver: (PackageFile) throws(PackageError) -> Void) throws(PackageError) {
        switch entry.kind {
        case .directory:
            // Directory entries (from `zip -r`) are implied by the files; only their names are checked.
            var name = Substring(entry.path)
            while name.hasSuffix("/") { name = name.dropLast() }
            if let reason = RelativePath.problem(in: String(name)) { throw .unsafePath(entry.path, reason: reason) }
        case .other(let type):
            throw .unsupportedEntryType(entry.path, type: type)
        case .file:
            let allowed = try checker.accept(path: entry.path)
            let content: [UInt8]
            do throws(PackageError) { content = try readData(allowed) } catch {
                if case .tooLarge = error { throw .tooLarge(limit: maxDecompressedSize) }
                throw error
            }
            if let file = checker.take(path: entry.path, content: content) { try deliver(file) }
        }
    }
}
