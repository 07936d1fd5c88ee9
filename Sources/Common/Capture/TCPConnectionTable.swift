/// The TCP connections of a capture that touch the cluster port, each with its two directions
/// reassembled and decoded.
final class TCPConnectionTable {
    /// One direction of one connection.
    struct Stream {
        var from: Endpoint
        var to: Endpoint
        var direction: DecodedMessage.Direction
        var reassembler = TCPStreamReassembler()
        var decoder: StreamMessageDecoder
        /// Set once the stop was reported, so it is reported once.
        var reportedStop = false
        /// Set once bytes skipped to the first header (mid-connection start) were reported.
        var reportedSkip = false

        var label: String { "\(from) → \(to)" }
    }

    final class Connection {
        let id: Int
        var streams: [Stream]

        init(id: Int, streams: [Stream]) {
            self.id = id
            self.streams = streams
        }

        var isClosed: Bool { streams.contains { $0.reassembler.closed } }
    }

    struct Key: Hashable {
        var from: Endpoint
        var to: Endpoint
    }

    let port: UInt16
    let fernet: Fernet?
    private(set) var connections: [Connection] = []
    private var byKey: [Key: (connection: Connection, stream: Int)] = [:]

    init(port: UInt16, fernet: Fernet?) {
        self.port = port
        self.fernet = fernet
    }

    /// The connection and stream index a segment belongs to; nil when neither port is the cluster port.
    /// A SYN on a finished 4-tuple starts a new connection (port reuse).
    func locate(_ segment: TCPSegment) -> (connection: Connection, stream: Int, replaced: Connection?)? {
        guard segment.source.port == port || segment.destination.port == port else { return nil }
        let key = Key(from: segment.source, to: segment.destination)
        if let found = byKey[key] {
            let fresh = segment.syn && found.connection.isClosed
            guard fresh else { return (found.connection, found.stream, nil) }
            let (connection, stream) = open(segment)
            return (connection, stream, found.connection)
        }
        let (connection, stream) = open(segment)
        return (connection, stream, nil)
    }

    private func open(_ segment: TCPSegment) -> (Connection, Int) {
        // The end on the cluster port is the server; if both or neither are, the first sender is the client.
        let sourceIsServer = segment.source.port == port && segment.destination.port != port
        let client = sourceIsServer ? segment.destination : segment.source
        let server = sourceIsServer ? segment.source : segment.destination
        let connection = Connection(id: connections.count + 1, streams: [
            Stream(from: client, to: server, direction: .clientToServer, decoder: StreamMessageDecoder(fernet: fernet)),
            Stream(from: server, to: client, direction: .serverToClient, decoder: StreamMessageDecoder(fernet: fernet)),
        ])
        connections.append(connection)
        byKey[Key(from: client, to: server)] = (connection, 0)
        byKey[Key(from: server, to: client)] = (connection, 1)
        return (connection, sourceIsServer ? 1 : 0)
    }
}
