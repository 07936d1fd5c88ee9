import CArchive

/// Reads the entries of a zip archive, in memory or from a file, with libarchive. For a whole archive only
/// the seekable zip reader is enabled: it reads the central directory, so an archive cut short is refused
/// rather than read up to the last complete local entry, and CRCs are checked as entries are read.
/// An archive still arriving (`stream`) cannot be seeked: the streaming reader follows the local headers
/// instead, and the archive must then end at its central directory, or it counts as cut short.
enum ZipArchiveReader {
    struct Entry {
        var path: String
        var kind: Kind
        enum Kind { case file, directory, other(String) }
    }

    typealias Body = (Entry, _ readData: (_ limit: Int) throws(PackageError) -> [UInt8]) throws(PackageError) -> Void

    /// Where the archive is: libarchive reads a file in blocks, seeking to the central directory first.
    enum Input {
        case memory([UInt8])
        case descriptor(Int32)
        /// Bytes read in order from the start, once.
        case stream(any PackageByteSource)
    }

    /// Calls `body` for each entry header; `readData` reads that entry's content, refusing to produce
    /// more than `limit` bytes.
    static func forEachEntry(_ input: Input, _ body: Body) throws(PackageError) {
        switch input {
        case .memory(let bytes):
            try bytes.withUnsafeBytes { raw in
                Result { () throws(PackageError) in
                    try forEachEntry(opening: { archive_read_open_memory($0, raw.baseAddress, raw.count) }, body)
                }
            }.get()
        case .descriptor(let fd):
            try forEachEntry(opening: { archive_read_open_fd($0, fd, 256 * 1024) }, body)
        case .stream(let source):
            let box = SourceBox(source)
            let context = Unmanaged.passUnretained(box).toOpaque()
            do throws(PackageError) {
                try forEachEntry(streaming: true, opening: { archive_read_open($0, context, nil, { _, context, buffer in
                    let box = Unmanaged<SourceBox>.fromOpaque(context!).takeUnretainedValue()
                    return box.next(buffer)
                }, nil) }, body)
            } catch {
                // The source's own failure (the transfer broke) says more than libarchive's echo of it.
                throw box.error ?? error
            }
            withExtendedLifetime(box) {}
        }
    }

    private static func forEachEntry(streaming: Bool = false, opening open: (OpaquePointer) -> Int32,
                                     _ body: Body) throws(PackageError) {
        guard let a = archive_read_new() else { throw .corrupt("archive_read_new failed") }
        defer { archive_read_free(a) }
        if streaming { archive_read_support_format_zip_streamable(a) } else { archive_read_support_format_zip_seekable(a) }
        guard open(a) == ARCHIVE_OK else { throw failure(a, context: "zip archive") }
        var entry: OpaquePointer?
        // One read buffer for all entries, uninitialised (libarchive fills what it reports).
        var chunk = [UInt8](unsafeUninitializedCapacity: 256 * 1024) { _, count in count = 256 * 1024 }
        while true {
            let rc = archive_read_next_header(a, &entry)
            if rc == ARCHIVE_EOF { return }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else {
                throw failure(a, context: "zip entry header")
            }
            let path = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry))
                .map { String(cString: $0) } ?? ""
            let kind: Entry.Kind
            if archive_entry_hardlink(entry) != nil {
                kind = .other("hard link")
            } else {
                switch UInt32(archive_entry_filetype(entry)) {
                case ArchiveFileType.regular: kind = .file
                case ArchiveFileType.directory: kind = .directory
                case ArchiveFileType.symlink: kind = .other("symbolic link")
                default: kind = .other("special file")
                }
            }
            let readData = { (limit: Int) throws(PackageError) -> [UInt8] in
                try readEntryData(a, path: path, limit: limit, chunk: &chunk)
            }
            try body(Entry(path: path, kind: kind), readData)
        }
    }

    private static func readEntryData(_ a: OpaquePointer, path: String, limit: Int,
                                      chunk: inout [UInt8]) throws(PackageError) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 { throw failure(a, context: "entry '\(path)'") }
            // Counted as it grows: the sizes in the headers are the sender's word and may lie.
            if out.count + n > limit { throw .tooLarge(limit: limit) }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    private static func failure(_ a: OpaquePointer, context: String) -> PackageError {
        let message = archive_error_string(a).map { String(cString: $0) } ?? "unreadable"
        if message.lowercased().contains("truncated") { return .truncated("\(context): \(message)") }
        return .corrupt("\(context): \(message)")
    }
}

/// A byte source behind libarchive's read callback, with the buffer it hands out.
private final class SourceBox {
    var source: any PackageByteSource
    var error: PackageError?
    /// libarchive reads from this memory until the next callback, so it must not move: allocated once.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    init(_ source: any PackageByteSource) { self.source = source }

    deinit { buffer.deallocate() }

    /// libarchive's read callback: the next bytes, 0 at the end, -1 on failure.
    func next(_ out: UnsafeMutablePointer<UnsafeRawPointer?>?) -> la_ssize_t {
        do {
            let n = try source.read(into: buffer)
            out?.pointee = UnsafeRawPointer(buffer.baseAddress)
            return la_ssize_t(n)
        } catch {
            self.error = error
            return -1
        }
    }
}
