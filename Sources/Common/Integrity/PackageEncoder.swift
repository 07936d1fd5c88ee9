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

/// Zip entries are deflated here (libdeflate), in the parallel phase (on every core), with their CRC-32, so the writer
/// only lays them out. Bytes that look incompressible (already compressed or random data, which deflate
/// would only copy, slowly) are stored as they are, and so is an entry deflate did not make smaller. What
/// an entry adds is known before it is written: its data plus the headers (local header, central record
/// and their extra fields), so the §5.5 limit is never crossed.
struct ZipEntryCompressor: EntryCompressor {
    struct Entry: Sendable {
        var path: String
        /// The raw deflate stream of the content, or the content itself when `stored`.
        var data: [UInt8]
        var crc: UInt32
        var size: Int
        var permissions: Int
        var modTime: Int
        /// Written without compression.
        var stored: Bool
    }

    let level: Int
    static let headerAllowance = 256

    func compress(path: String, content: UnsafeRawBufferPointer, permissions: Int,
                  modTime: Int) throws(PackageError) -> Entry? {
        var data: [UInt8] = []
        var stored = level == 0 || ByteEntropy.looksIncompressible(content)
        if !stored {
            do { data = try RawDeflate.compress(content, level: level) } catch {
                throw .archive("compressing '\(path)': \(error)")
            }
            stored = data.count >= content.count
        }
        if stored { data = Array(content) }
        return Entry(path: path, data: data, crc: RawDeflate.crc32(content), size: content.count, permissions: permissions,
                     modTime: modTime, stored: stored)
    }

    func footprint(_ entry: Entry) -> Int { entry.data.count + 2 * entry.path.utf8.count + Self.headerAllowance }
}

/// A cheap test of whether deflate can shrink some bytes, from the entropy of their byte frequencies:
/// text, XML and CDB tables sit far below 8 bits a byte, while compressed or random data sits just under
/// it. It misses one kind of redundancy, a high-entropy block repeated within deflate's 32 KiB window;
/// such a file is then stored whole, which is correct, only larger.
enum ByteEntropy {
    /// Below this size deflating costs next to nothing, and a few thousand bytes are too few for the
    /// estimate (it reads low by about 0.05 bit at 4 KiB).
    static let minimumSize = 2048
    /// Bits per byte from which bytes count as incompressible.
    static let incompressibleBits = 7.9

    static func looksIncompressible(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= minimumSize else { return false }
        return bitsPerByte(bytes) >= incompressibleBits
    }

    /// Shannon entropy of the byte frequencies, 0 to 8.
    static func bitsPerByte(_ bytes: UnsafeRawBufferPointer) -> Double {
        guard !bytes.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: 256)
        counts.withUnsafeMutableBufferPointer { c in
            for b in bytes { c[Int(b)] += 1 }
        }
        let total = Double(bytes.count)
        var bits = 0.0
        for n in counts where n > 0 {
            let p = Double(n) / total
            bits -= p * log2(p)
        }
        return bits
    }
}

struct ZipEncoder: PackageEncoder {
    let compressor: ZipEntryCompressor
    private let writer: ZipArchiveWriter

    init(level: Int, sink: PackageSink) throws(PackageError) {
        compressor = ZipEntryCompressor(level: level)
        writer = try ZipArchiveWriter(compressLevel: level, sink: sink)
    }

    var size: Int { writer.bytesWritten }
    func discard() { writer.discard() }
    func footprint(_ entry: ZipEntryCompressor.Entry) -> Int { compressor.footprint(entry) }

    mutating func append(_ entry: ZipEntryCompressor.Entry) throws(PackageError) {
        try writer.addFile(path: entry.path, data: entry.data, crc: entry.crc, size: entry.size, deflated: !entry.stored,
                           permissions: entry.permissions, modTime: entry.modTime)
    }

    mutating func finish(metadata: [UInt8], modTime: Int) throws(PackageError) -> [UInt8] {
        let entry = try metadata.withUnsafeBytes { raw in
            Result { () throws(PackageError) in
                try compressor.compress(path: IntegrityConstants.metadataEntryName, content: raw, permissions: 0o640, modTime: modTime)
            }
        }.get()
        if let entry { try append(entry) }
        return try writer.finish()
    }
}
