import Common
import Foundation

/// The decode side of the proxy: each proxied connection's two byte streams go through their own
/// `StreamMessageDecoder`, and messages are printed as they complete. Bytes arrive on event-loop threads,
/// so everything is behind one lock; decoding is cheap next to the network.
final class LiveDecoder: @unchecked Sendable {
    private struct Streams {
        var client: String
        var server: String
        var decoders: [StreamMessageDecoder]
        var reported = [false, false]
    }

    private let lock = NSLock()
    private let fernet: Fernet?
    private let formatter: MessageFormatter
    private var collator = MessageCollator()
    private var connections: [Int: Streams] = [:]
    private var nextID = 1

    init(fernet: Fernet?, formatter: MessageFormatter) {
        self.fernet = fernet
        self.formatter = formatter
    }

    /// Registers a proxied connection; returns its number.
    func open(client: String, server: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let id = nextID
        nextID += 1
        connections[id] = Streams(client: client, server: server,
                                  decoders: [StreamMessageDecoder(fernet: fernet), StreamMessageDecoder(fernet: fernet)])
        return id
    }

    /// Bytes that went client → server (`toServer`) or back. Forwarding does not depend on this.
    func feed(connection id: Int, toServer: Bool, bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        guard var streams = connections[id] else { return }
        let index = toServer ? 0 : 1
        let now = Date().timeIntervalSince1970
        for var message in streams.decoders[index].feed(bytes) {
            message.time = now
            message.source = toServer ? streams.client : streams.server
            message.destination = toServer ? streams.server : streams.client
            message.connection = id
            message.direction = toServer ? .clientToServer : .serverToClient
            if let warning = collator.annotate(&message) { Output.warning(warning) }
            Output.line(formatter.line(message), flush: true)
        }
        report(&streams, index, streams.decoders[index].stop)
        connections[id] = streams
    }

    /// The connection closed: a partial message left in either direction is reported.
    func close(connection id: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard var streams = connections.removeValue(forKey: id) else { return }
        for index in 0..<2 { report(&streams, index, streams.decoders[index].finish()) }
        collator.forget(connection: id)
    }

    private func report(_ streams: inout Streams, _ index: Int, _ stop: StreamStop?) {
        guard let stop, !streams.reported[index] else { return }
        streams.reported[index] = true
        let label = index == 0 ? "\(streams.client) → \(streams.server)" : "\(streams.server) → \(streams.client)"
        Output.error("\(label): \(stop) (still forwarding)")
    }
}
