/// One packet as a capture file stores it: the link-layer frame and when it was seen.
public struct CapturedPacket: Sendable {
    /// Seconds since the epoch; nil when the format records none (pcapng simple packet block).
    public var time: Double?
    /// LINKTYPE_* value of the interface the packet came from.
    public var linkType: UInt32
    public var data: [UInt8]
    /// Length of the packet on the wire; larger than `data.count` when the capture cut it (snaplen).
    public var originalLength: Int

    public init(time: Double?, linkType: UInt32, data: [UInt8], originalLength: Int) {
        self.time = time
        self.linkType = linkType
        self.data = data
        self.originalLength = originalLength
    }
}

/// A capture format reader: packets in file order, nil at the end.
public protocol PacketReader {
    mutating func next() throws(CaptureError) -> CapturedPacket?
}

/// Limits that keep a damaged or hostile capture from making us allocate gigabytes.
public enum CaptureLimits {
    /// Largest pcap record or pcapng block accepted. Real snaplens are at most 256 KiB.
    public static let maxRecordSize = 64 << 20
}
