#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What happened to one file offered to a package encoder.
enum AppendOutcome {
    /// Added; the package grew by this many bytes.
    case added(Int)
    /// Would take the package past its limit; nothing was added.
    case doesNotFit
    /// Cannot be represented in this format; nothing was added.
    case cannotEncode
}

/// The format-specific half of `PackageWriter`: it appends entries and reports their size, while the
/// writer applies the §5.5 limit rules the same way for both formats.
protocol PackageEncoder {
    mutating func append(path: String, content: UnsafeRawBufferPointer, permissions: Int, modTime: Int,
                         remaining: Int) throws(PackageError) -> AppendOutcome
    /// Appends `files_metadata.json` (never counted against the limit) and returns the package.
    mutating func finish(metadata: [UInt8]) throws(PackageError) -> [UInt8]
}

/// The 4.8.1 container. An entry's size is what §5.5 counts: path, separator, compressed bytes, separator.
struct WazuhContainerEncoder: PackageEncoder {
    var level: Int
    var output: [UInt8] = []

    init(level: Int) { self.level = level }

    mutating func append(path: String, content: UnsafeRawBufferPointer, permissions: Int, modTime: Int,
                         remaining: Int) throws(PackageError) -> AppendOutcome {
        guard let entry = try encode(path: path, content: content, trailingSeparator: true) else { return .cannotEncode }
        guard entry.count <= remaining else { return .doesNotFit }
        output += entry
        return .added(entry.count)
    }

    mutating func finish(metadata: [UInt8]) throws(PackageError) -> [UInt8] {
        let name = IntegrityConstants.metadataEntryName
        guard let entry = try metadata.withUnsafeBytes({ raw in
            Result { () throws(PackageError) in try encode(path: name, content: raw, trailingSeparator: false) }
        }).get() else { throw .separatorCollision(name) }
        output += entry
        return output
    }

    /// A compressed stream that happens to contain a separator would be mis-split by the receiver (4.8.1
    /// sends it anyway). Any zlib stream is valid input to `zlib.decompress`, so other levels are tried
    /// before giving up; a file that clashes at every level is left out.
    private func encode(path: String, content: UnsafeRawBufferPointer,
                        trailingSeparator: Bool) throws(PackageError) -> [UInt8]? {
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

/// A zip archive through libarchive. An entry's size is the bytes libarchive emits for it (local header,
/// deflated data, descriptor). Whether it fits is decided before writing, because libarchive cannot take
/// an entry back: zlib's bound settles the common case, and only an entry near the limit is deflated
/// once more to learn its exact size.
struct ZipEncoder: PackageEncoder {
    let writer: ZipArchiveWriter
    let level: Int

    init(level: Int) throws(PackageError) {
        writer = try ZipArchiveWriter(compressLevel: level)
        self.level = level
    }

    /// Local header (30) + central directory record (46) + the name twice + libarchive's extra fields and
    /// data descriptor, generously.
    private static func overhead(_ path: String) -> Int { 2 * path.utf8.count + 256 }

    mutating func append(path: String, content: UnsafeRawBufferPointer, permissions: Int, modTime: Int,
                         remaining: Int) throws(PackageError) -> AppendOutcome {
        if Zlib.bound(content.count) + Self.overhead(path) > remaining {
            let exact: Int
            do { exact = try Zlib.rawDeflatedSize(content, level: level) } catch {
                throw .corrupt("compressing '\(path)': \(error)")
            }
            if exact + Self.overhead(path) > remaining { return .doesNotFit }
        }
        let before = writer.bytesWritten
        try writer.add(path: path, content: content, permissions: permissions, modTime: modTime)
        return .added(writer.bytesWritten - before)
    }

    mutating func finish(metadata: [UInt8]) throws(PackageError) -> [UInt8] {
        try metadata.withUnsafeBytes { raw in
            Result { () throws(PackageError) in
                try writer.add(path: IntegrityConstants.metadataEntryName, content: raw, permissions: 0o640,
                               modTime: Int(time(nil)))
            }
        }.get()
        return try writer.finish()
    }
}
