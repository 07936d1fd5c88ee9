/// pcapng files: a sequence of blocks `type(4) length(4) body length(4)`. A section header block (SHB)
/// fixes the byte order of the blocks that follow (its byte-order magic says which); interface
/// description blocks (IDB) give each interface's link type and timestamp resolution; packets come in
/// enhanced (EPB), simple (SPB) or obsolete (OPB) packet blocks. Other blocks are skipped.
public struct PcapngReader: PacketReader {
    public static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    struct Interface {
        var linkType: UInt32
        /// Timestamp units per second (`if_tsresol`, default microseconds).
        var unitsPerSecond: UInt64 = 1_000_000
        /// Seconds added to every timestamp (`if_tsoffset`).
        var offsetSeconds: Int64 = 0
    }

    private let reader: BufferedByteReader
    private var bigEndian = false
    private var inSection = false
    private var interfaces: [Interface] = []

    public static func matches(_ first4: [UInt8]) -> Bool {
        first4 == [0x0A, 0x0D, 0x0D, 0x0A]
    }

    public init(_ reader: BufferedByteReader) { self.reader = reader }

    public mutating func next() throws(CaptureError) -> CapturedPacket? {
        while true {
            let blockOffset = reader.offset
            let have = try reader.fill(12)
            if have == 0 { return nil }
            guard have == 12 else { throw .truncatedCapture(offset: blockOffset, needed: 12, available: have) }
            let head = ByteView(reader.peek(12))
            let type = head.u32(0)!  // the SHB type reads the same in both byte orders
            if type == Self.sectionHeaderType {
                switch head.u32(8)! {
                case Self.byteOrderMagic: bigEndian = true
                case Self.byteOrderMagic.byteSwapped: bigEndian = false
                default: throw .malformed(offset: blockOffset, reason: "section header with a bad byte-order magic")
                }
                inSection = true
                interfaces = []
            } else if !inSection {
                throw .malformed(offset: blockOffset, reason: "pcapng block before any section header")
            }
            let length = Int(head.u32(4, bigEndian: bigEndian)!)
            guard length >= 12, length % 4 == 0, length <= CaptureLimits.maxRecordSize else {
                throw .malformed(offset: blockOffset, reason: "block length \(length) is impossible")
            }
            let block = ByteView(try reader.read(length))
            guard block.u32(length - 4, bigEndian: bigEndian) == UInt32(length) else {
                throw .malformed(offset: blockOffset, reason: "block trailing length does not match \(length)")
            }
            if let packet = try packet(in: block, type: head.u32(0, bigEndian: bigEndian)!, at: blockOffset) {
                return packet
            }
        }
    }

    /// Interprets one block; returns a packet for packet blocks, nil for the rest.
    private mutating func packet(in block: ByteView, type: UInt32, at offset: Int) throws(CaptureError) -> CapturedPacket? {
        let be = bigEndian
        let end = block.count - 4  // the trailing length
        switch type {
        case 1:  // interface description
            guard let link = block.u16(8, bigEndian: be) else {
                throw .malformed(offset: offset, reason: "short interface description block")
            }
            var interface = Interface(linkType: UInt32(link))
            readOptions(block, from: 16, to: end, into: &interface)
            interfaces.append(interface)
            return nil
        case 6, 2:  // enhanced packet, obsolete packet
            let ifIndex = type == 6 ? Int(block.u32(8, bigEndian: be) ?? 0) : Int(block.u16(8, bigEndian: be) ?? 0)
            guard let high = block.u32(12, bigEndian: be), let low = block.u32(16, bigEndian: be),
                  let captured = block.u32(20, bigEndian: be), let original = block.u32(24, bigEndian: be),
                  28 + Int(captured) <= end
            else { throw .malformed(offset: offset, reason: "packet block shorter than its captured length") }
            guard ifIndex < interfaces.count else {
                throw .malformed(offset: offset, reason: "packet on undeclared interface \(ifIndex)")
            }
            let interface = interfaces[ifIndex]
            let data = block.suffix(from: 28, length: Int(captured))!.bytes
            return CapturedPacket(time: Self.seconds(UInt64(high) << 32 | UInt64(low), interface),
                                  linkType: interface.linkType, data: data,
                                  originalLength: max(Int(original), Int(captured)))
        case 3:  // simple packet: no timestamp, interface 0, data up to the block end
            guard let original = block.u32(8, bigEndian: be), let interface = interfaces.first else {
                throw .malformed(offset: offset, reason: "simple packet block without an interface")
            }
            let captured = min(Int(original), end - 12)
            let data = block.suffix(from: 12, length: captured)!.bytes
            return CapturedPacket(time: nil, linkType: interface.linkType, data: data,
                                  originalLength: max(Int(original), captured))
        default:
            return nil
        }
    }

    private func readOptions(_ block: ByteView, from start: Int, to end: Int, into interface: inout Interface) {
        var at = start
        while at + 4 <= end, let code = block.u16(at, bigEndian: bigEndian), let len = block.u16(at + 2, bigEndian: bigEndian) {
            let value = at + 4
            guard code != 0, value + Int(len) <= end else { return }
            if code == 9, len >= 1, let resolution = block.u8(value) {
                interface.unitsPerSecond = Self.unitsPerSecond(resolution)
            } else if code == 14, len >= 8, let shift = block.u64(value, bigEndian: bigEndian) {
                interface.offsetSeconds = Int64(bitPattern: shift)
            }
            at = value + (Int(len) + 3) / 4 * 4
        }
    }

    /// `if_tsresol`: high bit clear → 10^-n seconds, set → 2^-n seconds.
    static func unitsPerSecond(_ resolution: UInt8) -> UInt64 {
        let n = Int(resolution & 0x7F)
        if resolution & 0x80 != 0 { return n >= 64 ? UInt64.max : UInt64(1) << UInt64(n) }
        var v: UInt64 = 1
        for _ in 0..<min(n, 19) { v *= 10 }
        return v
    }

    static func seconds(_ timestamp: UInt64, _ interface: Interface) -> Double {
        let units = interface.unitsPerSecond
        let whole = timestamp / units, fraction = timestamp % units
        return Double(whole) + Double(interface.offsetSeconds) + Double(fraction) / Double(units)
    }
}
