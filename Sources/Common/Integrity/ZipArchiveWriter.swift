import CMinizip
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A zip archive written with zlib's minizip in raw mode: each entry's data arrives already deflated (or
/// stored) with its CRC-32 and size, so packages can deflate their entries on every core and this writer
/// only lays them out (UTF-8 names, Unix modes, DOS and Unix modification times). Output goes into memory,
/// a file or a stream (see `PackageSink`). It writes whatever it is given, links and directories included,
/// so tests can craft hostile archives with it; `PackageWriter` is the checked way to build a package.
///
/// minizip patches each local header once its entry is closed (it seeks back to write the CRC and sizes),
/// so the bytes of the entry being written stay in a window here and reach the sink only once the entry
/// is complete: a streamed package never has to take bytes back.
public final class ZipArchiveWriter {
    public enum EntryKind: Sendable {
        case file
        case directory
        case symlink(target: String)
    }

    private var zip: zipFile?
    private let output: ZipOutput
    private var finished = false
    private let compressLevel: Int

    /// Bytes emitted so far. After `add` returns this includes that entry's local header and data (the
    /// central directory comes at `finish`).
    public var bytesWritten: Int { output.position }

    public convenience init(compressLevel: Int = IntegrityConstants.compressLevel) throws(PackageError) {
        try self.init(compressLevel: compressLevel, sink: .memory())
    }

    init(compressLevel: Int, sink: PackageSink) throws(PackageError) {
        self.compressLevel = compressLevel
        output = ZipOutput(sink)
        var functions = zlib_filefunc64_def()
        functions.zopen64_file = { opaque, _, _ in opaque }
        functions.zread_file = { _, _, _, _ in 0 }
        functions.zwrite_file = { opaque, _, buffer, size in
            guard let opaque, let buffer else { return 0 }
            let out = Unmanaged<ZipOutput>.fromOpaque(opaque).takeUnretainedValue()
            return out.write(UnsafeRawBufferPointer(start: buffer, count: Int(size))) ? size : 0
        }
        functions.ztell64_file = { opaque, _ in
            guard let opaque else { return ZPOS64_T.max }
            return ZPOS64_T(Unmanaged<ZipOutput>.fromOpaque(opaque).takeUnretainedValue().position)
        }
        functions.zseek64_file = { opaque, _, offset, origin in
            guard let opaque else { return -1 }
            let out = Unmanaged<ZipOutput>.fromOpaque(opaque).takeUnretainedValue()
            return out.seek(offset, origin: origin) ? 0 : -1
        }
        functions.zclose_file = { _, _ in 0 }
        functions.zerror_file = { opaque, _ in
            guard let opaque else { return 1 }
            return Unmanaged<ZipOutput>.fromOpaque(opaque).takeUnretainedValue().error == nil ? 0 : 1
        }
        functions.opaque = Unmanaged.passUnretained(output).toOpaque()
        guard let z = zipOpen2_64("package.zip", APPEND_STATUS_CREATE, nil, &functions) else {
            output.discard()
            throw output.error ?? .archive("zipOpen2_64 failed")
        }
        zip = z
    }

    deinit {
        // An unfinished archive: minizip frees its state; the bytes go nowhere (the sink was discarded
        // or is dropped with this writer).
        if let zip, !finished { zipClose(zip, nil) }
    }

    /// Adds one entry; `content` is the file data (ignored for directories), deflated unless `compressed`
    /// is false (then stored as is). A link stores its target as its data, as zip tools do.
    public func add(path: String, content: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                    kind: EntryKind = .file, permissions: Int = 0o640, modTime: Int = 0,
                    compressed: Bool = true) throws(PackageError) {
        switch kind {
        case .file:
            let data: [UInt8]
            if compressed {
                do { data = try RawDeflate.compress(content, level: compressLevel) } catch {
                    throw .archive("entry '\(path)': \(error)")
                }
            } else {
                data = Array(content)
            }
            try addEntry(path: path, data: data, crc: RawDeflate.crc32(content), size: content.count, deflated: compressed,
                         mode: ArchiveFileType.regular | UInt32(permissions & 0o7777), modTime: modTime)
        case .directory:
            try addEntry(path: path.hasSuffix("/") ? path : path + "/", data: [], crc: 0, size: 0, deflated: false,
                         mode: ArchiveFileType.directory | UInt32(permissions & 0o7777), modTime: modTime)
        case .symlink(let target):
            let bytes = Array(target.utf8)
            let crc = bytes.withUnsafeBytes { RawDeflate.crc32($0) }
            try addEntry(path: path, data: bytes, crc: crc, size: bytes.count, deflated: false,
                         mode: ArchiveFileType.symlink | UInt32(permissions & 0o7777), modTime: modTime)
        }
    }

    /// Adds a regular file whose data is ready: `data` is the raw deflate stream of the file's `size`
    /// bytes when `deflated`, else the bytes themselves; `crc` is their CRC-32.
    public func addFile(path: String, data: [UInt8], crc: UInt32, size: Int, deflated: Bool,
                        permissions: Int = 0o640, modTime: Int = 0) throws(PackageError) {
        try addEntry(path: path, data: data, crc: crc, size: size, deflated: deflated,
                     mode: ArchiveFileType.regular | UInt32(permissions & 0o7777), modTime: modTime)
    }

    private func addEntry(path: String, data: [UInt8], crc: UInt32, size: Int, deflated: Bool, mode: UInt32,
                          modTime: Int) throws(PackageError) {
        guard let zip, !finished else { throw .archive("entry '\(path)': the archive is already finished") }
        // Sizes stay in 32 bits: packages are limited to 1 GiB (§5.6), so no entry needs zip64.
        guard size < Int(UInt32.max), data.count < Int(UInt32.max), output.position < Int(UInt32.max) else {
            throw .archive("entry '\(path)': over 4 GiB")
        }
        var info = zip_fileinfo()
        info.dosDate = uLong(Self.dosDate(modTime))
        info.external_fa = uLong(mode) << 16
        // The extended timestamp (0x5455): the modification time in UTC, local and central alike.
        let stamp = UInt32(truncatingIfNeeded: max(0, min(modTime, Int(UInt32.max))))
        var extra: [UInt8] = [0x55, 0x54, 5, 0, 1]
        withUnsafeBytes(of: stamp.littleEndian) { extra += $0 }
        let method = deflated ? Z_DEFLATED : 0
        // Version made by: Unix (3), spec 2.0; flag bit 11: the name is UTF-8.
        let rc = extra.withUnsafeBytes { e in
            zipOpenNewFileInZip4_64(zip, path, &info, e.baseAddress, uInt(e.count), e.baseAddress, uInt(e.count), nil,
                                    method, Int32(compressLevel), 1, -MAX_WBITS, DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY,
                                    nil, 0, uLong(3 << 8 | 20), 1 << 11, 0)
        }
        guard rc == ZIP_OK else { throw failure("entry '\(path)'", rc) }
        var offset = 0
        while offset < data.count {
            let n = min(data.count - offset, 1 << 30)
            let rc = data.withUnsafeBytes { zipWriteInFileInZip(zip, $0.baseAddress! + offset, UInt32(n)) }
            guard rc == ZIP_OK else { throw failure("entry '\(path)'", rc) }
            offset += n
        }
        let closed = zipCloseFileInZipRaw64(zip, ZPOS64_T(size), uLong(crc))
        guard closed == ZIP_OK else { throw failure("entry '\(path)'", closed) }
        // The entry is complete, its header patched: its bytes can go.
        guard output.flush() else { throw failure("entry '\(path)'", ZIP_ERRNO) }
    }

    /// An output error (disk full, ...) is reported as itself, not as minizip's echo of it.
    private func failure(_ what: String, _ rc: Int32) -> PackageError {
        output.error ?? .archive("\(what): minizip error \(rc)")
    }

    /// Writes the central directory; returns the archive bytes when built in memory (empty for a file,
    /// which is then complete and closed).
    public func finish() throws(PackageError) -> [UInt8] {
        if !finished {
            finished = true
            let rc = zip.map { zipClose($0, nil) } ?? ZIP_OK
            guard rc == ZIP_OK, output.flush() else { throw failure("closing", rc) }
            output.result = try output.sink.finish()
        }
        return output.result
    }

    /// Removes an unfinished package file.
    func discard() { output.discard() }

    /// A DOS date and time (local time, as zip tools write it), clamped to 1980-01-01, the earliest it holds.
    static func dosDate(_ seconds: Int) -> UInt32 {
        var t = time_t(seconds)
        var tm = tm()
        guard localtime_r(&t, &tm) != nil, tm.tm_year >= 80 else { return 1 << 21 | 1 << 16 }
        let date = UInt32(tm.tm_year - 80) << 9 | UInt32(tm.tm_mon + 1) << 5 | UInt32(tm.tm_mday)
        let clock = UInt32(tm.tm_hour) << 11 | UInt32(tm.tm_min) << 5 | UInt32(tm.tm_sec / 2)
        return date << 16 | clock
    }
}

/// minizip's output: every byte of the entry being written is held (minizip seeks back into it once to
/// patch the local header), the rest has gone to the sink.
private final class ZipOutput {
    var sink: PackageSink
    var error: PackageError?
    var result: [UInt8] = []
    /// Bytes after `base` not yet given to the sink.
    private var window: [UInt8] = []
    private var base = 0
    /// The offset the next write goes to.
    private(set) var position = 0

    init(_ sink: PackageSink) { self.sink = sink }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard error == nil else { return false }
        let at = position - base
        let overlap = min(bytes.count, window.count - at)
        if overlap > 0 {
            window.withUnsafeMutableBytes { w in
                w.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: overlap)
            }
        }
        if overlap < bytes.count { window.append(contentsOf: bytes[overlap...]) }
        position += bytes.count
        return true
    }

    /// Only within the window: what the sink has taken is final.
    func seek(_ offset: ZPOS64_T, origin: Int32) -> Bool {
        let target: Int
        switch origin {
        case ZLIB_FILEFUNC_SEEK_SET: target = Int(offset)
        case ZLIB_FILEFUNC_SEEK_CUR: target = position + Int(offset)
        case ZLIB_FILEFUNC_SEEK_END: target = base + window.count + Int(offset)
        default: return false
        }
        guard target >= base && target <= base + window.count else { return false }
        position = target
        return true
    }

    func flush() -> Bool {
        guard error == nil else { return false }
        guard !window.isEmpty else { return true }
        do { try sink.write(window) } catch {
            self.error = error
            return false
        }
        base += window.count
        position = base
        window.removeAll(keepingCapacity: window.capacity <= 1 << 20)
        return true
    }

    func discard() { sink.discard() }
}

/// The Unix file types of a zip entry's mode (`S_IF*`); the C macros carry a cast, so Swift does not
/// import them.
enum ArchiveFileType {
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let symlink: UInt32 = 0o120000
}
