/// Decodes a capture (pcap, pcapng or a raw one-direction byte stream) into cluster messages, reported
/// through callbacks as they complete, so a capture on a pipe is shown live and never held whole.
///
/// Packets are taken in file order, which is the order capture tools write them (time order). A message
/// is reported when the packet completing it is read, so messages of all connections and directions come
/// out in time order.
public final class CaptureDecoder {
    public struct Options: Sendable {
        public var fernet: Fernet?
        /// Connections with this port at either end are decoded (the cluster port, 1516 by default).
        public var port: UInt16
        public var format: InputFormat

        public init(fernet: Fernet? = nil, port: UInt16 = 1516, format: InputFormat = .auto) {
            self.fernet = fernet
            self.port = port
            self.format = format
        }
    }

    public struct Summary: Sendable {
        public var format: InputFormat = .auto
        public var messages = 0
        public var connections = 0
        /// Streams whose decoding stopped on damaged or missing data.
        public var stops = 0
    }

    public let options: Options
    /// A decoded message, in time order.
    public var onMessage: (DecodedMessage) -> Void = { _ in }
    /// A stream (`src → dst`, or "-" for raw input) whose decoding stopped, and why.
    public var onStop: (String, StreamStop) -> Void = { _, _ in }
    /// Something worth telling once (wrong key, unsupported link type).
    public var onWarning: (String) -> Void = { _ in }

    private var collator = MessageCollator()
    private var summary = Summary()
    private var warnedLinkTypes: Set<UInt32> = []

    public init(options: Options) { self.options = options }

    /// Decodes everything `source` holds. Throws only for a capture file that cannot be read on
    /// (IO error, damaged record); stopped streams are reported through `onStop` and counted.
    public func run(_ source: ByteSource) throws(CaptureError) -> Summary {
        let reader = BufferedByteReader(source)
        var format = options.format
        if format == .auto { format = InputFormat.detect(reader.peek(try reader.fill(4))) }
        summary.format = format
        switch format {
        case .raw, .auto:
            try decodeRaw(reader)
        case .pcap:
            var packets = try PcapReader(reader)
            try decodePackets(&packets)
        case .pcapng:
            var packets = PcapngReader(reader)
            try decodePackets(&packets)
        }
        return summary
    }

    private func emit(_ message: DecodedMessage) {
        var message = message
        if let warning = collator.annotate(&message) { onWarning(warning) }
        summary.messages += 1
        onMessage(message)
    }

    private func reportStop(_ label: String, _ stop: StreamStop) {
        summary.stops += 1
        onStop(label, stop)
    }

    private func decodeRaw(_ reader: BufferedByteReader) throws(CaptureError) {
        var decoder = StreamMessageDecoder(fernet: options.fernet)
        while true {
            let chunk = try reader.readChunk()
            if chunk.isEmpty { break }
            decoder.feed(chunk).forEach(emit)
            if decoder.stop != nil { break }
        }
        if let stop = decoder.finish() { reportStop("-", stop) }
    }

    private func decodePackets<R: PacketReader>(_ packets: inout R) throws(CaptureError) {
        let table = TCPConnectionTable(port: options.port, fernet: options.fernet)
        defer { summary.connections = table.connections.count }
        do {
            while let packet = try packets.next() {
                guard let segment = PacketDecoder.tcpSegment(packet) else {
                    warnIfUnsupported(packet.linkType)
                    continue
                }
                guard let (connection, index, replaced) = table.locate(segment) else { continue }
                if let replaced { finish(replaced) }
                feed(segment, time: packet.time, into: connection, stream: index)
            }
        } catch {
            // Report what the capture held up to the damage, then the damage itself.
            table.connections.forEach(finish)
            throw error
        }
        table.connections.forEach(finish)
    }

    private func feed(_ segment: TCPSegment, time: Double?, into connection: TCPConnectionTable.Connection, stream index: Int) {
        var stream = connection.streams[index]
        defer { connection.streams[index] = stream }
        if segment.missingBytes > 0 {
            stream.decoder.halt(.packetCut(captured: segment.payload.count,
                                           announced: segment.payload.count + segment.missingBytes),
                                at: stream.reassembler.delivered)
        }
        let bytes: [UInt8]
        do {
            bytes = try stream.reassembler.accept(sequence: segment.sequence, syn: segment.syn, fin: segment.fin,
                                                  rst: segment.rst, payload: segment.payload)
        } catch {
            let missing = stream.reassembler.gap?.missing ?? 0
            stream.decoder.halt(.missingSegments(missing: missing), at: stream.reassembler.delivered)
            bytes = []
        }
        if stream.reassembler.startedMidStream { stream.decoder.startMidStream() }
        let messages = stream.decoder.feed(bytes)
        if stream.decoder.skipped > 0, !stream.decoder.synchronizing, !stream.reportedSkip {
            stream.reportedSkip = true
            onWarning("\(stream.label): capture started mid-connection; skipped \(stream.decoder.skipped) bytes"
                      + " to the first frame header")
        }
        for var message in messages {
            message.time = time
            message.source = stream.from.description
            message.destination = stream.to.description
            message.connection = connection.id
            message.direction = stream.direction
            emit(message)
        }
        if let stop = stream.decoder.stop, !stream.reportedStop {
            stream.reportedStop = true
            reportStop(Self.label(stream), stop)
        }
    }

    /// A stream picked up without its SYN may start inside a frame, which explains most stops there.
    private static func label(_ stream: TCPConnectionTable.Stream) -> String {
        stream.reassembler.startedMidStream ? stream.label + " (capture started mid-connection)" : stream.label
    }

    /// End of a connection (or of the capture): holes and partial frames become stops.
    private func finish(_ connection: TCPConnectionTable.Connection) {
        for index in connection.streams.indices {
            var stream = connection.streams[index]
            if let gap = stream.reassembler.gap {
                stream.decoder.halt(.missingSegments(missing: gap.missing), at: gap.offset)
            }
            if let stop = stream.decoder.finish(), !stream.reportedStop {
                stream.reportedStop = true
                reportStop(Self.label(stream), stop)
            }
            connection.streams[index] = stream
        }
        collator.forget(connection: connection.id)
    }

    private func warnIfUnsupported(_ linkType: UInt32) {
        guard !PacketDecoder.supportedLinkTypes.contains(linkType), warnedLinkTypes.insert(linkType).inserted else { return }
        onWarning("packets of link type \(linkType) are not supported and were skipped")
    }
}
