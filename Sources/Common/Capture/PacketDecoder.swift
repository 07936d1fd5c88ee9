/// A TCP segment lifted out of a captured packet.
public struct TCPSegment: Sendable {
    public var source: Endpoint
    public var destination: Endpoint
    public var sequence: UInt32
    public var syn: Bool
    public var fin: Bool
    public var rst: Bool
    public var payload: [UInt8]
    /// Payload bytes the IP header announces but the capture did not keep (snaplen cut the packet).
    public var missingBytes: Int
}

/// Link layer → IPv4/IPv6 → TCP. Anything else (ARP, UDP, IP fragments, unknown link types) yields nil:
/// the cluster protocol only travels over TCP, and a stray non-TCP packet is no reason to stop.
public enum PacketDecoder {
    public static let supportedLinkTypes: Set<UInt32> = [0, 1, 101, 113, 228, 229, 276]

    public static func tcpSegment(_ packet: CapturedPacket) -> TCPSegment? {
        let frame = ByteView(packet.data)
        guard let (ip, version) = networkLayer(frame, linkType: packet.linkType) else { return nil }
        return version == 4 ? ipv4(ip) : ipv6(ip)
    }

    /// Strips the link-layer header; returns the IP packet and its version.
    static func networkLayer(_ frame: ByteView, linkType: UInt32) -> (ByteView, Int)? {
        func byEtherType(_ type: UInt16?, at offset: Int) -> (ByteView, Int)? {
            guard let type, let ip = frame.suffix(from: offset) else { return nil }
            switch type {
            case 0x0800: return (ip, 4)
            case 0x86DD: return (ip, 6)
            default: return nil
            }
        }
        func byVersion(_ ip: ByteView?) -> (ByteView, Int)? {
            guard let ip, let first = ip.u8(0) else { return nil }
            let version = Int(first >> 4)
            return version == 4 || version == 6 ? (ip, version) : nil
        }
        switch linkType {
        case 0:  // BSD loopback: a 4-byte address family in the writer's byte order
            guard let family = frame.u32(0, bigEndian: false) else { return nil }
            let value = family > 0xFFFF ? family.byteSwapped : family
            switch value {
            case 2: return (frame.suffix(from: 4)!, 4)
            case 10, 24, 28, 30: return (frame.suffix(from: 4)!, 6)  // AF_INET6 on Linux, BSDs, macOS
            default: return nil
            }
        case 1:  // Ethernet, possibly behind 802.1Q / 802.1ad tags
            var offset = 12
            var type = frame.u16(offset)
            while type == 0x8100 || type == 0x88A8 {
                offset += 4
                type = frame.u16(offset)
            }
            return byEtherType(type, at: offset + 2)
        case 101: return byVersion(frame)
        case 228: return byVersion(frame).flatMap { $0.1 == 4 ? $0 : nil }
        case 229: return byVersion(frame).flatMap { $0.1 == 6 ? $0 : nil }
        case 113: return byEtherType(frame.u16(14), at: 16)  // Linux cooked v1
        case 276: return byEtherType(frame.u16(0), at: 20)  // Linux cooked v2
        default: return nil
        }
    }

    static func ipv4(_ ip: ByteView) -> TCPSegment? {
        guard let first = ip.u8(0), let total = ip.u16(2), let fragment = ip.u16(6), ip.u8(9) == 6,
              let src = ip.u32(12), let dst = ip.u32(16)
        else { return nil }
        let headerLength = Int(first & 0x0F) * 4
        // A fragmented datagram: reassembling IP fragments is out of scope (TCP sets DF in practice).
        // Total length 0 appears in captures of TCP segmentation offload: the packet is what was captured.
        let end = total == 0 ? ip.count : Int(total)
        guard headerLength >= 20, fragment & 0x3FFF == 0, end >= headerLength else { return nil }
        return tcp(ip, from: headerLength, ipEnd: end, source: .v4(src), destination: .v4(dst))
    }

    static func ipv6(_ ip: ByteView) -> TCPSegment? {
        guard let payloadLength = ip.u16(4), var next = ip.u8(6), ip.count >= 40 else { return nil }
        let src = IPAddress.v6(ip.suffix(from: 8, length: 16)!.bytes)
        let dst = IPAddress.v6(ip.suffix(from: 24, length: 16)!.bytes)
        var offset = 40
        // Walk the extension headers that may precede TCP.
        while next != 6 {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options
                guard let n = ip.u8(offset), let len = ip.u8(offset + 1) else { return nil }
                next = n
                offset += (Int(len) + 1) * 8
            case 51:  // authentication header
                guard let n = ip.u8(offset), let len = ip.u8(offset + 1) else { return nil }
                next = n
                offset += (Int(len) + 2) * 4
            default:
                return nil  // fragments (44), ESP and non-TCP protocols
            }
        }
        return tcp(ip, from: offset, ipEnd: 40 + Int(payloadLength), source: src, destination: dst)
    }

    /// Parses the TCP header at `from`; `ipEnd` is where the IP packet says it ends, which trims
    /// Ethernet padding and tells how much a snaplen cut off.
    static func tcp(_ ip: ByteView, from: Int, ipEnd: Int, source: IPAddress, destination: IPAddress) -> TCPSegment? {
        guard let tcp = ip.suffix(from: from), let sport = tcp.u16(0), let dport = tcp.u16(2),
              let seq = tcp.u32(4), let offsetByte = tcp.u8(12), let flags = tcp.u8(13)
        else { return nil }
        let dataOffset = Int(offsetByte >> 4) * 4
        guard dataOffset >= 20, ipEnd >= from + dataOffset else { return nil }
        let announced = ipEnd - from - dataOffset
        let payload = tcp.suffix(from: min(dataOffset, tcp.count), length: announced)?.bytes ?? []
        return TCPSegment(source: Endpoint(address: source, port: sport),
                          destination: Endpoint(address: destination, port: dport),
                          sequence: seq, syn: flags & 0x02 != 0, fin: flags & 0x01 != 0, rst: flags & 0x04 != 0,
                          payload: payload, missingBytes: announced - payload.count)
    }
}
