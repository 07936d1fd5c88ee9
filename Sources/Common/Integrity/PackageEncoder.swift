#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Compresses one file into a package entry. It holds no state, so `PackageWriter` runs it on all cores;
/// the output depends only on the input, which keeps packages identical to sequential compression.
protocol EntryCompressor: Sendable {
    associatedtype Entry: Sendable
    /// nil when this format cannot represent the file.
    func compress(path: String, content: UnsafeRawBufferPointer, permissions: Int,
                  modTime: Int) throws(PackageError) -> Entry?
}

/// The format-specific half of `PackageWriter`: it lays compressed entries out in order into its sink and
/// says what each costs against the limit, while the writer applies the §5.5 rules the same way for both
/// formats.
protocol PackageEncoder {
    associatedtype Compressor: EntryCompressor
    var compressor: Compressor { get }
    /// What the entry would add to the package if appended now (what §5.5 counts).
    func footprint(_ entry: Compressor.Entry) -> Int
    mutating func append(_ entry: Compressor.Entry) throws(PackageError)
    /// Appends `files_metadata.json` (never counted against the limit) and ends the package; returns
    /// its bytes when it was built in memory.
    mutating func finish(metadata: [UInt8], modTime: Int) throws(PackageError) -> [UInt8]
    /// Bytes emitted so far.
    var size: Int { get }
    /// Removes an unfinished package file.
    mutating func discard()
}

/// 4.8.1 container entries: `path PATH_SEP zlib(content) FILE_SEP`, all of which §5.5 counts.
struct WazuhEntryCompressor: EntryCompressor {
    let level: Int

    func compress(path: String, content: UnsafeRawBufferPointer, permissions: Int,
                  modTime: Int) throws(PackageError) -> [UInt8]? {
        try entry(path: path, content: content, trailingSeparator: true)
    }

    /// A compressed stream that happens to contain a separator would be mis-split by the receiver (4.8.1
    /// sends it anyway). Any zlib stream is valid input to `zlib.decompress`, so other levels are tried
    /// before giving up; a file that clashes at every level is left out.
    func entry(path: String, content: UnsafeRawBufferPointer, trailingSeparator: Bool) throws(PackageError) -> [UInt8]? {
        let pathBytes = Array(path.utf8)
        for candidate in [level] + (0...9).filter({ $0 != level }).reversed() {
            let compressed: [UInt8]
            do { compressed = try Zlib.compress(content, level: candidate) } catch {
                throw .corrupt("compressing '\(path)': \(error)")
            }
            if let entry = WazuhContainer.entry(path: pathBytes, compressed: compressed,
                                                trailingSeparator: trailingSeparator) {
                return entry
            }
        }
        return nil
    }
}

struct WazuhContainerEncoder: PackageEncoder {
    let compressor: WazuhEntryCompressor
    private var sink: PackageSink

    init(level: Int, sink: PackageSink) {
        compressor = WazuhEntryCompressor(level: level)
        self.sink = sink
    }

    var size: Int { sink.written }
    func footprint(_ entry: [UInt8]) -> Int { entry.count }
    mutating func append(_ entry: [UInt8]) throws(PackageError) { try sink.write(entry) }
    mutating func discard() { sink.discard() }

    mutating func finish(metadata: [UInt8], modTime: Int) throws(PackageError) -> [UInt8] {
        let name = IntegrityConstants.metadataEntryName
        let compressor = self.compressor
        guard let entry = try metadata.withUnsafeBytes({ raw in
            Result { () throws(PackageError) in try compressor.entry(path: name, content: raw, trailingSeparator: false) }
        }).get() else { throw .separatorCollision(name) }
        try sink.write(entry)
        return try sink.finish()
    }
}

/// Zip entries deflated ahead of time (`ZipLayout`); §5.5 counts local header, data and central record.
struct ZipEntryCompressor: EntryCompressor {
    struct Entry: Sendable {
        var layout: ZipLayout.Entry
        var data: [UInt8]
    }

    let level: Int

    func compress(path: String, content: UnsafeRawBufferPointer, permissions: Int,
                  modTime: Int) throws(PackageError) -> Entry? {
        let data: [UInt8]
        do { data = try Zlib.rawDeflate(content, level: level) } catch {
            throw .corrupt("compressing '\(path)': \(error)")
        }
        let layout = ZipLayout.Entry(name: Array(path.utf8), crc: Zlib.crc32(content), compressedSize: data.count,
                                     size: content.count, modTime: modTime, permissions: permissions)
        return Entry(layout: layout, data: data)
    }
}

struct ZipEncoder: PackageEncoder {
    let compressor: ZipEntryCompressor
    private var sink: PackageSink
    private var directory: [UInt8] = []
    private var entries = 0

    init(level: Int, sink: PackageSink) {
        compressor = ZipEntryCompressor(level: level)
        self.sink = sink
    }

    var size: Int { sink.written }
    mutating func discard() { sink.discard() }

    func footprint(_ entry: ZipEntryCompressor.Entry) -> Int {
        var layout = entry.layout
        layout.offset = sink.written
        return ZipLayout.footprint(layout)
    }

    mutating func append(_ entry: ZipEntryCompressor.Entry) throws(PackageError) {
        var layout = entry.layout
        layout.offset = sink.written
        try sink.write(ZipLayout.localHeader(layout))
        try sink.write(entry.data)
        directory += ZipLayout.centralRecord(layout)
        entries += 1
    }

    mutating func finish(metadata: [UInt8], modTime: Int) throws(PackageError) -> [UInt8] {
        let compressor = self.compressor
        let entry = try metadata.withUnsafeBytes { raw in
            Result { () throws(PackageError) in
                try compressor.compress(path: IntegrityConstants.metadataEntryName, content: raw,
                                        permissions: 0o640, modTime: modTime)
            }
        }.get()
        if let entry { try append(entry) }
        let directoryOffset = sink.written
        try sink.write(directory)
        try sink.write(ZipLayout.end(entries: entries, directoryOffset: directoryOffset, directorySize: directory.count))
        return try sink.finish()
    }
}
