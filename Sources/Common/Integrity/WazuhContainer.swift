#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The byte layout of the 4.8.1 package (PROTOCOL.md §5.3): `path PATH_SEP zlib(content) FILE_SEP` per
/// file, then `files_metadata.json PATH_SEP zlib(json)` with no trailing FILE_SEP. There is no escaping,
/// so the encoder checks each entry for separator clashes that would make a Python reader mis-split it.
public enum WazuhContainer {
    public static let pathSeparator: [UInt8] = Array("|//@@//|".utf8)
    public static let fileSeparator: [UInt8] = Array("|@@//@@|".utf8)

    /// One entry as bytes (`trailingSeparator` false for the final metadata entry), or nil when a Python
    /// reader would split it anywhere but at its own separators. `bytes.split` finds the leftmost match
    /// and resumes after it, so checking each entry on its own is enough.
    static func entry(path: [UInt8], compressed: [UInt8], trailingSeparator: Bool) -> [UInt8]? {
        var e = path
        e.reserveCapacity(path.count + compressed.count + 16)
        e += pathSeparator
        e += compressed
        if trailingSeparator { e += fileSeparator }
        guard firstIndex(of: pathSeparator, in: e[...]) == path.count else { return nil }
        let fileSep = firstIndex(of: fileSeparator, in: e[...])
        if trailingSeparator { return fileSep == e.count - fileSeparator.count ? e : nil }
        return fileSep == nil ? e : nil
    }

    /// Splits a container into (path bytes, compressed bytes) pieces, as the 4.8.1 reader does.
    static func pieces(_ bytes: [UInt8]) throws(PackageError) -> [(path: ArraySlice<UInt8>, data: ArraySlice<UInt8>)] {
        var out: [(ArraySlice<UInt8>, ArraySlice<UInt8>)] = []
        var start = 0
        while true {
            let rest = bytes[start...]
            let end = firstIndex(of: fileSeparator, in: rest).map { start + $0 } ?? bytes.count
            let piece = bytes[start..<end]
            guard !piece.isEmpty else {
                throw .corrupt(end == bytes.count ? "empty entry at the end (trailing separator)" : "empty entry at byte \(start)")
            }
            guard let sep = firstIndex(of: pathSeparator, in: piece) else {
                throw .corrupt("entry at byte \(start) has no path separator")
            }
            out.append((piece.prefix(sep), piece.dropFirst(sep + pathSeparator.count)))
            if end == bytes.count { return out }
            start = end + fileSeparator.count
        }
    }

    /// Offset of the first `needle` in `haystack`, relative to the slice start. `memchr` finds candidate
    /// first bytes (glibc hides `memmem` behind _GNU_SOURCE, which a module map cannot set).
    static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                guard let hb = h.baseAddress, let nb = n.baseAddress, n.count > 0, h.count >= n.count else { return nil }
                let first = Int32(nb.load(as: UInt8.self))
                var offset = 0
                let lastStart = h.count - n.count
                while offset <= lastStart {
                    guard let hit = memchr(hb + offset, first, lastStart - offset + 1) else { return nil }
                    let at = hb.distance(to: UnsafeRawPointer(hit))
                    if memcmp(hb + at, nb, n.count) == 0 { return at }
                    offset = at + 1
                }
                return nil
            }
        }
    }
}
