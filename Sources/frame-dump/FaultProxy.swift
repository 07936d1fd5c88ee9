import Foundation
import NIOCore
import NIOPosix

/// What the fault proxy does to the bytes it forwards, switchable while connections run (the faults of
/// issue #14, after Toxiproxy's toxics): nothing, drop everything (a black hole), delay with jitter, a
/// bandwidth limit, one-byte writes, forward the first N bytes and then nothing (a stall: the peer sees
/// a half-open connection), forward the first N bytes and then close. `reset` is an action, not a state:
/// every connection open at that moment is closed with a TCP RST.
enum Fault: Equatable, Sendable, CustomStringConvertible {
    case none
    case blackhole
    case latency(milliseconds: Int, jitter: Int)
    case bandwidth(bytesPerSecond: Int)
    case fragment
    case stallAfter(bytes: Int)
    case closeAfter(bytes: Int)

    /// The control language: `none`, `blackhole`, `latency MS [JITTER]`, `bandwidth BYTES_PER_S`,
    /// `fragment`, `stall-after BYTES`, `close-after BYTES`.
    init?(command: String) {
        let words = command.split(separator: " ").map(String.init)
        guard let verb = words.first else { return nil }
        let n = words.dropFirst().map { Int($0) }
        guard !n.contains(where: { $0 == nil || $0! < 0 }) else { return nil }
        let v = n.map { $0! }
        switch (verb, v.count) {
        case ("none", 0), ("clear", 0): self = .none
        case ("blackhole", 0): self = .blackhole
        case ("latency", 1): self = .latency(milliseconds: v[0], jitter: 0)
        case ("latency", 2): self = .latency(milliseconds: v[0], jitter: v[1])
        case ("bandwidth", 1) where v[0] > 0: self = .bandwidth(bytesPerSecond: v[0])
        case ("fragment", 0): self = .fragment
        case ("stall-after", 1): self = .stallAfter(bytes: v[0])
        case ("close-after", 1): self = .closeAfter(bytes: v[0])
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .none: return "none"
        case .blackhole: return "blackhole"
        case .latency(let ms, let jitter): return "latency \(ms) \(jitter)"
        case .bandwidth(let rate): return "bandwidth \(rate)"
        case .fragment: return "fragment"
        case .stallAfter(let n): return "stall-after \(n)"
        case .closeAfter(let n): return "close-after \(n)"
        }
    }
}

/// The proxy's state: the fault in force and the open connections. Lives on the proxy's one event loop.
final class FaultState: @unchecked Sendable {
    let loop: any EventLoop
    private(set) var fault: Fault = .none
    /// Bumped at every change, so the byte counts of stall-after and close-after start from the change.
    private(set) var generation = 0
    private var connections: [ObjectIdentifier: (Channel, Channel)] = [:]

    init(loop: any EventLoop) { self.loop = loop }

    func set(_ fault: Fault) {
        loop.preconditionInEventLoop()
        self.fault = fault
        generation += 1
    }

    func register(_ inbound: Channel, _ outbound: Channel) {
        connections[ObjectIdentifier(inbound)] = (inbound, outbound)
    }

    func unregister(_ inbound: Channel) { connections[ObjectIdentifier(inbound)] = nil }

    /// Closes every open connection with an RST (SO_LINGER 0); returns how many.
    func resetAll() -> Int {
        let all = Array(connections.values)
        for (a, b) in all {
            for c in [a, b] {
                if let provider = c as? SocketOptionProvider {
                    provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in c.close(promise: nil) }
                } else {
                    c.close(promise: nil)
                }
            }
        }
        connections.removeAll()
        return all.count
    }

    var openConnections: Int { connections.count }
}

/// One direction of one proxied connection: reads from its channel, applies the fault, writes to the
/// partner channel. Writes keep their order whatever delays the faults add.
final class FaultForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let state: FaultState
    private var partner: Channel?
    private let onClose: () -> Void
    /// When the last scheduled write goes out (latency and bandwidth queue behind it).
    private var lastDeadline = NIODeadline.now()
    private var counted = (generation: -1, bytes: 0)

    init(state: FaultState, onClose: @escaping () -> Void = {}) {
        self.state = state
        self.onClose = onClose
    }

    func link(to partner: Channel) { self.partner = partner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard let partner else { return }
        let fault = state.fault
        if counted.generation != state.generation { counted = (state.generation, 0) }
        switch fault {
        case .none:
            write(buffer, to: partner, at: nil)
        case .blackhole:
            return
        case .latency(let ms, let jitter):
            let spread = jitter > 0 ? Int.random(in: -jitter...jitter) : 0
            let due = NIODeadline.now() + .milliseconds(Int64(max(0, ms + spread)))
            write(buffer, to: partner, at: due)
        case .bandwidth(let rate):
            let start = max(lastDeadline, NIODeadline.now())
            let due = start + .nanoseconds(Int64(buffer.readableBytes) * 1_000_000_000 / Int64(rate))
            write(buffer, to: partner, at: due)
        case .fragment:
            while let byte = buffer.readSlice(length: 1) { write(byte, to: partner, at: nil) }
        case .stallAfter(let limit), .closeAfter(let limit):
            let room = max(0, limit - counted.bytes)
            let passed = min(room, buffer.readableBytes)
            counted.bytes += passed
            if passed > 0, let part = buffer.readSlice(length: passed) { write(part, to: partner, at: nil) }
            if case .closeAfter = fault, counted.bytes >= limit {
                // What went through is flushed first, then both sides close.
                let own = context.channel
                partner.writeAndFlush(partner.allocator.buffer(capacity: 0)).whenComplete { _ in
                    partner.close(promise: nil)
                    own.close(promise: nil)
                }
            }
        }
    }

    private func write(_ buffer: ByteBuffer, to partner: Channel, at due: NIODeadline?) {
        let at = due.map { max($0, lastDeadline) }
        guard let at, at > NIODeadline.now() else {
            if lastDeadline > NIODeadline.now() {
                // Something is still queued: keep the order.
                let when = lastDeadline
                partner.eventLoop.scheduleTask(deadline: when) { partner.writeAndFlush(buffer, promise: nil) }
            } else {
                partner.writeAndFlush(buffer, promise: nil)
            }
            return
        }
        lastDeadline = at
        partner.eventLoop.scheduleTask(deadline: at) { partner.writeAndFlush(buffer, promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        // Let queued writes go out first.
        if let partner {
            let when = max(lastDeadline, NIODeadline.now())
            partner.eventLoop.scheduleTask(deadline: when) { partner.close(promise: nil) }
        }
        partner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Accepted client connections: connect upstream, then forward both ways through `FaultForwarder`s.
final class FaultConnector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let target: HostPort
    private let state: FaultState

    init(target: HostPort, state: FaultState) {
        self.target = target
        self.state = state
    }

    func channelActive(context: ChannelHandlerContext) {
        let inbound = context.channel
        let (target, state) = (self.target, self.state)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port)
            .whenComplete { result in
                switch result {
                case .success(let outbound):
                    let fromClient = FaultForwarder(state: state, onClose: { state.unregister(inbound) })
                    let fromServer = FaultForwarder(state: state)
                    fromClient.link(to: outbound)
                    fromServer.link(to: inbound)
                    do {
                        try inbound.pipeline.syncOperations.addHandler(fromClient)
                        try outbound.pipeline.syncOperations.addHandler(fromServer)
                    } catch {
                        inbound.close(promise: nil)
                        outbound.close(promise: nil)
                        return
                    }
                    state.register(inbound, outbound)
                    if !inbound.isActive { outbound.close(promise: nil); state.unregister(inbound) }
                    inbound.setOption(.autoRead, value: true).whenFailure { _ in inbound.close(promise: nil) }
                case .failure(let error):
                    Output.error("cannot connect to \(target): \(error)")
                    inbound.close(promise: nil)
                }
            }
        context.fireChannelActive()
    }
}

/// The control socket: one command per line, answered `ok <fault>` or `err <why>`.
/// `reset` closes the open connections (`ok reset N`); `status` answers the fault and the connection count.
final class FaultControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let state: FaultState
    private var pending: [UInt8] = []

    init(state: FaultState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += unwrapInboundIn(data).readableBytesView
        while let newline = pending.firstIndex(of: 0x0A) {
            let line = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            pending.removeSubrange(...newline)
            let answer = Self.run(line, state)
            Output.error("fault proxy: \(line) -> \(answer)")
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: answer + "\n")), promise: nil)
        }
    }

    static func run(_ line: String, _ state: FaultState) -> String {
        switch line {
        case "reset": return "ok reset \(state.resetAll())"
        case "status": return "ok \(state.fault) connections \(state.openConnections)"
        default:
            guard let fault = Fault(command: line) else {
                return "err unknown command '\(line.prefix(60))'; known: none, blackhole, latency MS [JITTER], bandwidth BYTES_PER_S, fragment, stall-after BYTES, close-after BYTES, reset, status"
            }
            state.set(fault)
            return "ok \(fault)"
        }
    }
}
