#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The records of a zip archive (PKWARE APPNOTE 6.3.x) for entries deflated ahead of time. A package's
/// files are compressed on all cores and only then laid out in order, which a streaming zip library
/// (libarchive compresses inside `archive_write_data`) cannot do; reading still goes through libarchive.
///
/// Each entry is a local header with its CRC and sizes known (no data descriptor), the raw deflate
/// data, and later a central directory record. Names are UTF-8 (flag bit 11); the external attributes
/// carry a Unix regular-file mode, and an extended-timestamp field the exact modification time. Zip64
/// fields appear only where a value does not fit in 16 or 32 bits.
enum ZipLayout {
    struct Entry: Sendable {
        var name: [UInt8]
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var modTime: Int
        var permissions: Int
        /// Offset of the local header in the archive.
        var offset: Int = 0
    }

    private static let max16 = 0xFFFF
    private static let max32 = 0xFFFF_FFFF
    private static let utf8Flag: UInt16 = 0x0800
    private static let deflated: UInt16 = 8
    /// Version 2.0 (deflate) or 4.5 (zip64), made on Unix (high byte 3).
    private static func versionNeeded(_ zip64: Bool) -> UInt16 { zip64 ? 45 : 20 }

    static func localHeader(_ e: Entry) -> [UInt8] {
        let zip64 = e.size >= max32 || e.compressedSize >= max32
        var extra = timestampField(e.modTime)
        if zip64 { extra += zip64Field([e.size, e.compressedSize]) }
        var out: [UInt8] = []
        out.reserveCapacity(30 + e.name.count + extra.count)
        out.le32(0x0403_4B50)
        out.le16(versionNeeded(zip64))
        out.le16(utf8Flag)
        out.le16(deflated)
        let (time, date) = dosDateTime(e.modTime)
        out.le16(time)
        out.le16(date)
        out.le32(e.crc)
        out.le32(UInt32(zip64 ? max32 : e.compressedSize))
        out.le32(UInt32(zip64 ? max32 : e.size))
        out.le16(UInt16(e.name.count))
        out.le16(UInt16(extra.count))
        return out + e.name + extra
    }

    static func centralRecord(_ e: Entry) -> [UInt8] {
        // Only the values that overflow go into the zip64 field, in this order (APPNOTE 4.5.3).
        var wide: [Int] = []
        if e.size >= max32 { wide.append(e.size) }
        if e.compressedSize >= max32 { wide.append(e.compressedSize) }
        if e.offset >= max32 { wide.append(e.offset) }
        var extra = timestampField(e.modTime)
        if !wide.isEmpty { extra += zip64Field(wide) }
        var out: [UInt8] = []
        out.reserveCapacity(46 + e.name.count + extra.count)
        out.le32(0x0201_4B50)
        out.le16(0x0300 | versionNeeded(!wide.isEmpty))
        out.le16(versionNeeded(!wide.isEmpty))
        out.le16(utf8Flag)
        out.le16(deflated)
        let (time, date) = dosDateTime(e.modTime)
        out.le16(time)
        out.le16(date)
        out.le32(e.crc)
        out.le32(UInt32(min(e.compressedSize, max32)))
        out.le32(UInt32(min(e.size, max32)))
        out.le16(UInt16(e.name.count))
        out.le16(UInt16(extra.count))
        out.le16(0)                                   // comment length
        out.le16(0)                                   // disk number
        out.le16(0)                                   // internal attributes
        out.le32(UInt32(0o100000 | (e.permissions & 0o7777)) << 16)
        out.le32(UInt32(min(e.offset, max32)))
        return out + e.name + extra
    }

    /// The end of central directory record, preceded by the zip64 record and locator when the entry
    /// count or the directory's place needs them.
    static func end(entries: Int, directoryOffset: Int, directorySize: Int) -> [UInt8] {
        var out: [UInt8] = []
        let zip64 = entries >= max16 || directoryOffset >= max32 || directorySize >= max32
        if zip64 {
            let recordOffset = directoryOffset + directorySize
            out.le32(0x0606_4B50)
            out.le64(44)                              // size of the rest of this record
            out.le16(0x0300 | 45)
            out.le16(45)
            out.le32(0)                               // this disk
            out.le32(0)                               // disk with the directory
            out.le64(entries)
            out.le64(entries)
            out.le64(directorySize)
            out.le64(directoryOffset)
            out.le32(0x0706_4B50)                     // locator
            out.le32(0)
            out.le64(recordOffset)
            out.le32(1)                               // total disks
        }
        out.le32(0x0605_4B50)
        out.le16(0)
        out.le16(0)
        out.le16(UInt16(min(entries, max16)))
        out.le16(UInt16(min(entries, max16)))
        out.le32(UInt32(min(directorySize, max32)))
        out.le32(UInt32(min(directoryOffset, max32)))
        out.le16(0)                                   // comment length
        return out
    }

    /// Bytes the entry adds to the archive: local header, data and central record.
    static func footprint(_ e: Entry) -> Int {
        localHeader(e).count + e.compressedSize + centralRecord(e).count
    }

    /// MS-DOS time and date in local time, as zip tools write them; 1980 is the earliest they can say.
    static func dosDateTime(_ seconds: Int) -> (time: UInt16, date: UInt16) {
        var t = time_t(seconds)
        var parts = tm()
        guard localtime_r(&t, &parts) != nil, parts.tm_year >= 80 else { return (0, (1 << 5) | 1) }
        let time = (parts.tm_hour << 11) | (parts.tm_min << 5) | (parts.tm_sec / 2)
        let date = ((parts.tm_year - 80) << 9) | ((parts.tm_mon + 1) << 5) | parts.tm_mday
        return (UInt16(truncatingIfNeeded: time), UInt16(truncatingIfNeeded: date))
    }

    /// Extended timestamp (0x5455) with the modification time in Unix seconds.
    private static func timestampField(_ modTime: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.le16(0x5455)
        out.le16(5)
        out.append(1)                                 // flags: modification time present
        out.le32(UInt32(clamping: max(0, modTime)))
        return out
    }

    private static func zip64Field(_ values: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        out.le16(0x0001)
        out.le16(UInt16(8 * values.count))
        for v in values { out.le64(v) }
        return out
    }
}

private extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) } }
    mutating func le64(_ v: Int) { for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: v >> shift)) } }
}
