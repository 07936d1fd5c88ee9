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
