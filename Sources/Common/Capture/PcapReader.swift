/// Classic libpcap files: a 24-byte global header, then 16-byte record headers each followed by the
/// packet bytes. The magic tells the byte order of the writer and whether the fraction field counts
/// microseconds (0xA1B2C3D4) or nanoseconds (0xA1B23C4D).
public struct PcapReader: PacketReader {
    public static let microMagic: UInt32 = 0xA1B2_C3D4
    public static let nanoMagic: UInt32 = 0xA1B2_3C4D

    private let reader: BufferedByteReader
    private let bigEndian: Bool
    private let fractionsPerSecond: Double
    public let linkType: UInt32

    /// True when the four bytes are a pcap magic in either byte order.
    public static func matches(_ first4: [UInt8]) -> Bool {
        guard first4.count == 4, let be = ByteView(first4).u32(0) else { return false }
        return [microMagic, nanoMagic].contains { $0 == be || $0.byteSwapped == be }
    }

    public init(_ reader: BufferedByteReader) throws(CaptureError) {
        self.reader = reader
        let headerOffset = reader.offset
        let header = ByteView(try reader.read(24))
        let magic = header.u32(0)!
        switch magic {
        case Self.microMagic, Self.nanoMagic: bigEndian = true
        case Self.microMagic.byteSwapped, Self.nanoMagic.byteSwapped: bigEndian = false
        default: throw .malformed(offset: headerOffset, reason: "not a pcap magic number")
        }
        let nano = magic == Self.nanoMagic || magic == Self.nanoMagic.byteSwapped
        fractionsPerSecond = nano ? 1e9 : 1e6
        // The upper bits of this field may carry FCS information; the link type is the low 16 bits.
        linkType = header.u32(20, bigEndian: bigEndian)! & 0xFFFF
    }

    public mutating func next() throws(CaptureError) -> CapturedPacket? {
        let recordOffset = reader.offset
        guard try reader.fill(16) > 0 else { return nil }
        let header = ByteView(try reader.read(16))
        let seconds = header.u32(0, bigEndian: bigEndian)!
        let fraction = header.u32(4, bigEndian: bigEndian)!
        let captured = Int(header.u32(8, bigEndian: bigEndian)!)
        let original = Int(header.u32(12, bigEndian: bigEndian)!)
        guard captured <= CaptureLimits.maxRecordSize else {
            throw .malformed(offset: recordOffset, reason: "record claims \(captured) captured bytes")
        }
        let data = try reader.read(captured)
        return CapturedPacket(time: Double(seconds) + Double(fraction) / fractionsPerSecond,
                              linkType: linkType, data: data, originalLength: max(original, captured))
    }
}
