#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Package bytes read in order, from memory or from a file.
protocol PackageByteSource {
    /// Fills the start of `buffer`; 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PackageError) -> Int
}

struct MemoryPackageSource: PackageByteSource {
    let bytes: [UInt8]
    var offset = 0

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PackageError) -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
        }
        return n
    }
}

struct FilePackageSource: PackageByteSource {
    let fd: Int32
    let path: String

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PackageError) -> Int {
        while true {
            let n = systemRead(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw .io(SystemCallError("read", path: path, errno: errno)) }
        }
    }
}

/// `read(2)`, named apart from the sources' `read` methods.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Reads a 4.8.1 container (PROTOCOL.md §5.3) through a window of about `readSize` bytes, with the same
/// reading as `bytes.split(FILE_SEP)` then a split at the first PATH_SEP: a piece ends at the first
/// FILE_SEP, which may straddle two reads, so the last 7 unmatched bytes always stay in the window.
/// An entry's compressed bytes are inflated as they pass; the name is checked before any of them is.
struct ContainerStreamParser<Source: PackageByteSource> {
    private var source: Source
    private let readSize: Int
    private let inflater: ZlibInflater
    private var window: [UInt8] = []
    /// First byte of `window` not consumed yet.
    private var start = 0
    /// Package offset of `window[0]`, for messages.
    private var base = 0
    private var atEnd = false

    private static var pathSeparator: [UInt8] { WazuhContainer.pathSeparator }
    private static var fileSeparator: [UInt8] { WazuhContainer.fileSeparator }
    /// Separator length; both are 8 bytes.
    private static var sep: Int { 8 }
    /// Longest name searched for before giving up: a longer one would be refused as unsafe anyway.
    private static var nameScan: Int { RelativePath.maxLength + 2 * sep }

    init(source: Source, readSize: Int) throws(PackageError) {
        self.source = source
        self.readSize = max(1, readSize)
        do { inflater = try ZlibInflater(limit: 0) } catch { throw .corrupt("\(error)") }
    }

    /// Parses every entry, calling `body` with each file once it is complete and checked.
    mutating func parse(checker: inout EntryChecker, budgetLimit: Int,
                        _ body: (PackageFile) throws(PackageError) -> Void) throws(PackageError) {
        while true {
            let path = try readName()
            inflater.reset(limit: try checker.accept(path: path))
            let last = try readData(path: path, budgetLimit: budgetLimit)
            let content: [UInt8]
            do { content = try inflater.finish() } catch {
                throw packageError(error, entry: path, budgetLimit: budgetLimit)
            }
            if let file = checker.take(path: path, content: content) { try body(file) }
            if last { return }
        }
    }

    private var pending: ArraySlice<UInt8> { window[start...] }

    /// The name of the entry starting here, consuming it and its PATH_SEP.
    private mutating func readName() throws(PackageError) -> String {
        let offset = base + start
        while true {
            let p = WazuhContainer.firstIndex(of: Self.pathSeparator, in: pending)
            // Only a FILE_SEP starting before the end of PATH_SEP matters: it would end the piece first.
            let f = WazuhContainer.firstIndex(of: Self.fileSeparator, in: pending.prefix((p ?? pending.count) + 2 * Self.sep - 1))
            if f == 0 { throw .corrupt("empty entry at byte \(offset)") }
            if let f, p.map({ $0 + Self.sep > f }) ?? true {
                throw .corrupt("entry at byte \(offset) has no path separator")
            }
            // With no FILE_SEP up to 15 bytes past PATH_SEP's start, none can overlap it.
            if let p, f != nil || atEnd || pending.count >= p + 2 * Self.sep - 1 {
                let name = pending.prefix(p)
                start += p + Self.sep
                guard let path = String(validating: name, as: UTF8.self) else {
                    throw .corrupt("the name of the entry at byte \(offset) is not valid UTF-8")
                }
                return path
            }
            if atEnd {
                if pending.isEmpty { throw .corrupt("empty entry at the end (trailing separator)") }
                throw .corrupt("entry at byte \(offset) has no path separator")
            }
            if p == nil && pending.count > Self.nameScan {
                throw .corrupt("entry at byte \(offset) has no path separator in its first \(Self.nameScan) bytes")
            }
            try fill()
        }
    }

    /// Inflates the entry's data up to the next FILE_SEP (consumed) or the end; true at the end.
    private mutating func readData(path: String, budgetLimit: Int) throws(PackageError) -> Bool {
        while true {
            if let f = WazuhContainer.firstIndex(of: Self.fileSeparator, in: pending) {
                try inflate(count: f, path: path, budgetLimit: budgetLimit)
                start += Self.sep
                return false
            }
            if atEnd {
                try inflate(count: pending.count, path: path, budgetLimit: budgetLimit)
                return true
            }
            // The last 7 bytes may be the start of a FILE_SEP that the next read completes.
            try inflate(count: max(0, pending.count - (Self.sep - 1)), path: path, budgetLimit: budgetLimit)
            try fill()
        }
    }

    private mutating func inflate(count: Int, path: String, budgetLimit: Int) throws(PackageError) {
        let inflater = self.inflater
        let range = start..<start + count
        do {
            try window.withUnsafeBytes { raw in
                Result { () throws(ZlibError) in try inflater.feed(UnsafeRawBufferPointer(rebasing: raw[range])) }
            }.get()
        } catch { throw packageError(error, entry: path, budgetLimit: budgetLimit) }
        start += count
    }

    /// Drops the consumed bytes and reads up to `readSize` more; sets `atEnd` when there are none.
    private mutating func fill() throws(PackageError) {
        if start > 0 {
            window.removeSubrange(0..<start)
            base += start
            start = 0
        }
        let old = window.count
        window.append(contentsOf: repeatElement(0, count: readSize))
        var source = self.source
        let n = try window.withUnsafeMutableBytes { raw in
            Result { () throws(PackageError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[old...])) }
        }.get()
        self.source = source
        window.removeSubrange((old + n)...)
        if n == 0 { atEnd = true }
    }
}
