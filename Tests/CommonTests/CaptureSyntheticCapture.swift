@testable import Common

/// Builds captures in the tests: packets from TCP segments over any supported link layer, written as
/// pcap or pcapng in either byte order.
enum SyntheticCapture {
    struct Packet {
        var time: Double
        var segment: TCPSegment
    }

    /// The TCP segments of a capture, with their times.
    static func segments(ofCapture bytes: [UInt8]) throws -> [Packet] {
        let reader = BufferedByteReader(MemoryByteSource(bytes))
        var out: [Packet] = []
        if InputFormat.detect(Array(bytes.prefix(4))) == .pcapng {
            var packets = PcapngReader(reader)
            while let p = try packets.next() { out.append(Packet(time: p.time ?? 0, segment: PacketDecoder.tcpSegment(p)!)) }
        } else {
            var packets = try PcapReader(reader)
            while let p = try packets.next() { out.append(Packet(time: p.time ?? 0, segment: PacketDecoder.tcpSegment(p)!)) }
        }
        return out
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func le16(_ v: UInt16) -> [UInt8] { be16(v).reversed() }
    static func le32(_ v: UInt32) -> [UInt8] { be32(v).reversed() }
    static func u16(_ v: UInt16, _ bigEndian: Bool) -> [UInt8] { bigEndian ? be16(v) : le16(v) }
    static func u32(_ v: UInt32, _ bigEndian: Bool) -> [UInt8] { bigEndian ? be32(v) : le32(v) }

    static func tcpHeader(_ s: TCPSegment) -> [UInt8] {
        var flags: UInt8 = 0x10  // ACK
        if s.syn { flags |= 0x02 }
        if s.fin { flags |= 0x01 }
        if s.rst { flags |= 0x04 }
        return be16(s.source.port) + be16(s.destination.port) + be32(s.sequence) + be32(0)
            + [0x50, flags] + be16(65535) + [0, 0, 0, 0]
    }

    /// IPv4 (addresses kept) or IPv6 (IPv4 addresses mapped into ::ffff:0:0/96) packet of a segment.
    static func ipPacket(_ s: TCPSegment, v6: Bool) -> [UInt8] {
        let tcp = tcpHeader(s) + s.payload
        func v4(_ a: IPAddress) -> UInt32 { if case .v4(let x) = a { return x }; return 0 }
        if v6 {
            func mapped(_ a: IPAddress) -> [UInt8] { [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + be32(v4(a)) }
            return [0x60, 0, 0, 0] + be16(UInt16(tcp.count)) + [6, 64] + mapped(s.source.address)
                + mapped(s.destination.address) + tcp
        }
        return [0x45, 0] + be16(UInt16(20 + tcp.count)) + [0, 0, 0x40, 0, 64, 6, 0, 0]
            + be32(v4(s.source.address)) + be32(v4(s.destination.address)) + tcp
    }

    /// The link-layer frame of a segment for a LINKTYPE value.
    static func frame(_ s: TCPSegment, linkType: UInt32, v6: Bool = false) -> [UInt8] {
        let ip = ipPacket(s, v6: v6)
        let etherType: UInt16 = v6 ? 0x86DD : 0x0800
        switch linkType {
        case 0: return le32(v6 ? 10 : 2) + ip
        case 1: return [UInt8](repeating: 0, count: 12) + [0x81, 0x00, 0, 1] + be16(etherType) + ip  // with a VLAN tag
        case 113: return [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + be16(etherType) + ip
        case 276: return be16(etherType) + [0, 0] + be32(1) + [0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + ip
        default: return ip  // 101, 228, 229
        }
    }

    static func pcap(_ packets: [Packet], linkType: UInt32 = 1, v6: Bool = false, bigEndian: Bool = false,
                     nano: Bool = false) -> [UInt8] {
        var out = u32(nano ? 0xA1B2_3C4D : 0xA1B2_C3D4, bigEndian) + u16(2, bigEndian) + u16(4, bigEndian)
            + u32(0, bigEndian) + u32(0, bigEndian) + u32(262_144, bigEndian) + u32(linkType, bigEndian)
        for p in packets {
            let data = frame(p.segment, linkType: linkType, v6: v6)
            let seconds = p.time.rounded(.down)
            let fraction = ((p.time - seconds) * (nano ? 1e9 : 1e6)).rounded()
            out += u32(UInt32(seconds), bigEndian) + u32(UInt32(fraction), bigEndian)
                + u32(UInt32(data.count), bigEndian) + u32(UInt32(data.count), bigEndian) + data
        }
        return out
    }

    static func block(_ type: UInt32, _ body: [UInt8], _ bigEndian: Bool) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let length = UInt32(12 + padded.count)
        return u32(type, bigEndian) + u32(length, bigEndian) + padded + u32(length, bigEndian)
    }

    /// pcapng with one interface whose timestamps count 10^-resolution seconds.
    static func pcapng(_ packets: [Packet], linkType: UInt32 = 1, bigEndian: Bool = false, resolution: UInt8 = 9) -> [UInt8] {
        var out = block(0x0A0D_0D0A, u32(0x1A2B_3C4D, bigEndian) + u16(1, bigEndian) + u16(0, bigEndian)
                        + [UInt8](repeating: 0xFF, count: 8), bigEndian)
        let tsresol = u16(9, bigEndian) + u16(1, bigEndian) + [resolution, 0, 0, 0] + [0, 0, 0, 0]
        out += block(1, u16(UInt16(linkType), bigEndian) + u16(0, bigEndian) + u32(262_144, bigEndian) + tsresol, bigEndian)
        var units: Double = 1
        for _ in 0..<resolution { units *= 10 }
        for p in packets {
            let data = frame(p.segment, linkType: linkType)
            let ts = UInt64((p.time * units).rounded())
            out += block(6, u32(0, bigEndian) + u32(UInt32(ts >> 32), bigEndian) + u32(UInt32(ts & 0xFFFF_FFFF), bigEndian)
                         + u32(UInt32(data.count), bigEndian) + u32(UInt32(data.count), bigEndian) + data, bigEndian)
        }
        return out
    }
}
