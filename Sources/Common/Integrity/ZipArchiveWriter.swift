import CArchive

/// A zip archive written with libarchive (deflate at a chosen level, UTF-8 names), into memory or, for
/// packages, straight into a file. It writes whatever it is given, links and directories included, so
/// tests can craft hostile archives with it; `PackageWriter` is the checked way to build a package.
public final class ZipArchiveWriter {
    public enum EntryKind: Sendable {
        case file
        case directory
        case symlink(target: String)
    }

    private let archive: OpaquePointer
    private let sink: ByteSink
    private var finished = false
    /// The method libarchive applies to the next entry: it is switched only when an entry asks otherwise.
    private var deflating = true

    /// Bytes emitted so far. Output is unblocked, so after `add` returns this includes that entry's
    /// local header, data and descriptor (the central directory comes at `finish`).
    public var bytesWritten: Int { sink.sink.written }

    public convenience init(compressLevel: Int = IntegrityConstants.compressLevel) throws(PackageError) {
        try self.init(compressLevel: compressLevel, sink: .memory())
    }

    init(compressLevel: Int, sink packageSink: PackageSink) throws(PackageError) {
        sink = ByteSink(packageSink)
        guard let a = archive_write_new() else { throw .archive("archive_write_new failed") }
        archive = a
        func check(_ rc: Int32, _ what: String) throws(PackageError) {
            if rc != ARCHIVE_OK { throw .archive("\(what): \(Self.message(a))") }
        }
        do {
            try check(archive_write_set_format_zip(a), "zip format")
            try check(archive_write_zip_set_compression_deflate(a), "deflate")
            try check(archive_write_set_format_option(a, "zip", "compression-level", String(compressLevel)), "compression level")
            try check(archive_write_set_format_option(a, "zip", "hdrcharset", "UTF-8"), "header charset")
            // No blocking or padding: the byte count after each entry is that entry's real size.
            try check(archive_write_set_bytes_per_block(a, 0), "block size")
            try check(archive_write_set_bytes_in_last_block(a, 1), "last block")
            let context = Unmanaged.passUnretained(sink).toOpaque()
            try check(archive_write_open2(a, context, nil, { _, context, buffer, length in
                guard let context, let buffer else { return -1 }
                let box = Unmanaged<ByteSink>.fromOpaque(context).takeUnretainedValue()
                do {
                    try box.sink.write(Array(UnsafeRawBufferPointer(start: buffer, count: length)))
                } catch let error as PackageError {
                    box.error = error
                    return -1
                } catch {
                    return -1
                }
                return la_ssize_t(length)
            }, nil, nil), "open")
        } catch {
            // Every property is set, so deinit frees the archive; a free here would be a second one.
            sink.sink.discard()
            throw error
        }
    }

    deinit { archive_write_free(archive) }

    /// Adds one entry; `content` is the file data (ignored for directories and links), deflated unless
    /// `compressed` is false (then stored as is).
    public func add(path: String, content: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                    kind: EntryKind = .file, permissions: Int = 0o640, modTime: Int = 0,
                    compressed: Bool = true) throws(PackageError) {
        if compressed != deflating {
            let rc = compressed ? archive_write_zip_set_compression_deflate(archive) : archive_write_zip_set_compression_store(archive)
            guard rc == ARCHIVE_OK else { throw failure("compression method for '\(path)'") }
            deflating = compressed
        }
        guard let entry = archive_entry_new() else { throw .archive("archive_entry_new failed") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, path)
        archive_entry_set_mtime(entry, time_t(modTime), 0)
        switch kind {
        case .file:
            archive_entry_set_filetype(entry, ArchiveFileType.regular)
            archive_entry_set_size(entry, la_int64_t(content.count))
        case .directory:
            archive_entry_set_filetype(entry, ArchiveFileType.directory)
        case .symlink(let target):
            archive_entry_set_filetype(entry, ArchiveFileType.symlink)
            archive_entry_set_symlink_utf8(entry, target)
        }
        archive_entry_set_perm(entry, mode_t(permissions))
        guard archive_write_header(archive, entry) == ARCHIVE_OK else { throw failure("entry '\(path)'") }
        if case .file = kind, let base = content.baseAddress {
            var offset = 0
            while offset < content.count {
                let n = archive_write_data(archive, base + offset, content.count - offset)
                guard n > 0 else { throw failure("entry '\(path)'") }
                offset += n
            }
        }
        guard archive_write_finish_entry(archive) == ARCHIVE_OK else { throw failure("entry '\(path)'") }
    }

    /// An output error (disk full, ...) is reported as itself, not as libarchive's echo of it.
    private func failure(_ what: String) -> PackageError {
        sink.error ?? .archive("\(what): \(Self.message(archive))")
    }

    /// Writes the central directory; returns the archive bytes when built in memory (empty for a file,
    /// which is then complete and closed).
    public func finish() throws(PackageError) -> [UInt8] {
        if !finished {
            finished = true
            guard archive_write_close(archive) == ARCHIVE_OK else { throw failure("closing") }
            sink.result = try sink.sink.finish()
        }
        return sink.result
    }

    /// Removes an unfinished package file.
    func discard() { sink.sink.discard() }

    static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}

/// Receives libarchive's output through the write callback.
private final class ByteSink {
    var sink: PackageSink
    var error: PackageError?
    var result: [UInt8] = []
    init(_ sink: PackageSink) { self.sink = sink }
}

/// libarchive's `AE_IF*` file types; the C macros carry a cast, so Swift does not import them.
enum ArchiveFileType {
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let symlink: UInt32 = 0o120000
}
