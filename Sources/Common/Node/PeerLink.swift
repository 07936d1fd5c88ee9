import Crypto
import Foundation
import NIOCore

/// What a request handler answers: a reply frame, or nothing (the worker's local `sendsync`).
public enum Reply: Sendable {
    case reply(command: String, payload: [UInt8])
    case none

    public static func ok(_ text: String) -> Reply { .reply(command: "ok", payload: Array(text.utf8)) }
    public static func ok(_ bytes: [UInt8]) -> Reply { .reply(command: "ok", payload: bytes) }
    public static func err(_ e: WazuhException) -> Reply { .reply(command: "err", payload: e.payload) }
    public static func errText(_ text: String) -> Reply { .reply(command: "err", payload: Array(text.utf8)) }
}

/// How the requester reads a response (PROTOCOL.md §1.6).
public enum Response: Sendable, Equatable {
    case ok([UInt8])
    case err(WazuhException)
    /// `ok-m` / `ok-c` keep-alive replies and anything else, with the command name.
    case other(command: String, payload: [UInt8])

    public var text: String {
        switch self {
        case .ok(let b): return String(decoding: b, as: UTF8.self)
        case .err(let e): return e.description
        case .other(let c, let b):
            switch c {
            case "ok-m": return "Successful response from master: " + String(decoding: b, as: UTF8.self)
            case "ok-c": return "Successful response from client: " + String(decoding: b, as: UTF8.self)
            default: return "Unknown response command received: " + c
            }
        }
    }
}

/// The request/response table of one connection (PROTOCOL.md §1.5): a random start counter, +1 per
/// request; a message whose counter is pending is a response, anything else a request; a timed-out
/// entry stays as a tombstone so its late response is dropped rather than taken for a request.
/// A pure struct: the actor owning the link holds it and resumes continuations.
public struct RequestTable<Waiter> {
    public private(set) var counter: UInt32
    private var pending: [UInt32: Waiter?] = [:]

    public init(start: UInt32 = UInt32.random(in: 0...UInt32.max)) { counter = start }

    /// Allocates the counter for a new request and records its waiter.
    public mutating func register(_ waiter: Waiter) -> UInt32 {
        counter &+= 1
        pending[counter] = .some(waiter)
        return counter
    }

    public enum Classification {
        case response(Waiter)
        case lateResponse
        case request
    }

    /// Classifies an incoming counter, consuming the pending entry if any.
    public mutating func classify(_ counter: UInt32) -> Classification {
        guard let entry = pending[counter] else { return .request }
        pending[counter] = nil
        if let waiter = entry { return .response(waiter) }
        return .lateResponse
    }

    /// Marks a request as timed out; returns its waiter if it was still pending.
    public mutating func timeOut(_ counter: UInt32) -> Waiter? {
        guard let entry = pending[counter], let waiter = entry else { return nil }
        pending[counter] = .some(nil)
        return waiter
    }

    /// Removes every live waiter (connection closed), keeping nothing.
    public mutating func drain() -> [Waiter] {
        let live = pending.values.compactMap { $0 }
        pending.removeAll()
        return live
    }

    public var pendingCount: Int { pending.values.filter { $0 != nil }.count }
}

extension WazuhException {
    /// Any error as the exception a peer is told about: itself, a link failure's code, or 1000 with its text.
    public static func wrapping(_ error: any Error) -> WazuhException {
        if let e = error as? WazuhException { return e }
        if let e = error as? LinkError { return e.exception }
        return .internal(1000, "\(error)")
    }
}

/// Errors a requester sees besides `err` replies.
public enum LinkError: Error, Equatable, CustomStringConvertible {
    case timeout(command: String)
    case closed
    public var description: String {
        switch self {
        case .timeout(let c): return WazuhException.cluster(3020, c).description
        case .closed: return "connection closed"
        }
    }
    public var exception: WazuhException {
        switch self {
        case .timeout(let c): return .cluster(3020, c)
        case .closed: return .cluster(3018, "connection closed")
        }
    }
}

/// One end of a cluster connection (node link or local socket): sends requests and awaits their
/// responses, dispatches incoming requests to `handler` in arrival order, and writes the replies.
public actor PeerLink {
    public typealias Handler = @Sendable (WireMessage, PeerLink) async -> Reply
    private let outbound: NIOAsyncChannelOutboundWriter<OutboundMessage>
    private var table = RequestTable<CheckedContinuation<Response, any Error>>()
    /// The timeout timer of each pending request.
    private var timers: [UInt32: Task<Void, Never>] = [:]
    private let handler: Handler
    private let requestTimeout: Double
    private var closed = false
    /// Long strings received with `new_str`/`str_upd` (PROTOCOL.md §4.1), by string ID.
    private var strings: [String: LongString] = [:]
    /// Files being received (nil: this link refuses file transfers, as the local socket does).
    private var files: FileReceiver?
    /// Task IDs the peer asked to cancel (`cancel_task`); a file sender checks them between chunks.
    private var interruptedTasks: Set<String> = []
    /// Node home; files sent and received live under it.
    let home: String?
    private let logger: @Sendable (LogLevel, String) -> Void
    /// Told of each file the peer starts sending, before any of its bytes arrive.
    private let onIncomingFile: (@Sendable (IncomingFile) -> Void)?
    public let remote: String

    struct LongString {
        var buffer: [UInt8]
        var filled: Int
    }

    /// `home`: the node home for file transfers (nil refuses them). `logger` receives the link's own
    /// log lines (cancelled tasks), tagged by the caller. `onIncomingFile` is called, in message order, when
    /// a file transfer starts, so that a consumer can follow the file while it grows.
    public init(outbound: NIOAsyncChannelOutboundWriter<OutboundMessage>, remote: String, requestTimeout: Double,
                home: String? = nil, logger: @escaping @Sendable (LogLevel, String) -> Void = { _, _ in },
                onIncomingFile: (@Sendable (IncomingFile) -> Void)? = nil,
                handler: @escaping Handler) {
        self.onIncomingFile = onIncomingFile
        self.outbound = outbound
        self.remote = remote
        self.requestTimeout = requestTimeout
        self.handler = handler
        self.home = home
        self.files = home.map(FileReceiver.init(home:))
        self.logger = logger
    }

    /// Sends a request and waits up to the request timeout for its response.
    public func request(_ command: String, _ payload: [UInt8] = [], timeout: Double? = nil) async throws -> Response {
        if closed { throw LinkError.closed }
        // A bad name is the caller's error; caught here it cannot take the whole connection down.
        _ = try CommandField(name: command)
        let limit = timeout ?? requestTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let counter = table.register(continuation)
            let message = OutboundMessage(counter: counter, command: command, payload: payload)
            Task {
                do { try await self.outbound.write(message) } catch { self.fail(counter, with: LinkError.closed) }
            }
            timers[counter] = Task {
                // Cancelled when the response comes first, so a timer lives only as long as its request.
                guard (try? await Task.sleep(nanoseconds: UInt64(limit * 1e9))) != nil else { return }
                self.fail(counter, with: LinkError.timeout(command: command))
            }
        }
    }

    public func request(_ command: String, text: String, timeout: Double? = nil) async throws -> Response {
        try await request(command, Array(text.utf8), timeout: timeout)
    }

    private func fail(_ counter: UInt32, with error: LinkError) {
        timers.removeValue(forKey: counter)?.cancel()
        if let waiter = table.timeOut(counter) { waiter.resume(throwing: error) }
    }

    /// Sends a message that is not a request (a reply, or a fire-and-forget request whose answer is ignored).
    public func send(counter: UInt32, command: String, payload: [UInt8]) async throws {
        _ = try CommandField(name: command)
        try await outbound.write(OutboundMessage(counter: counter, command: command, payload: payload))
    }

    /// Feeds one incoming message: resolves a pending request or dispatches a new one.
    public func received(_ message: WireMessage) async {
        switch table.classify(message.counter) {
        case .response(let waiter):
            timers.removeValue(forKey: message.counter)?.cancel()
            let name = message.name
            switch name {
            case "ok": waiter.resume(returning: .ok(message.payload))
            case "err": waiter.resume(returning: .err(WazuhException.parse(payload: message.payload)))
            default: waiter.resume(returning: .other(command: name, payload: message.payload))
            }
        case .lateResponse:
            return
        case .request:
            let reply: Reply
            switch message.name {
            case "new_str": reply = newString(message.payload)
            case "str_upd": reply = updateString(message.payload)
            case "err_str": reply = errString(message.payload)
            case "echo": reply = .ok(message.payload)
            case "new_file" where files != nil, "file_upd" where files != nil, "file_end" where files != nil:
                reply = fileCommand(message)
            case "cancel_task": reply = cancelTask(message.payload)
            default: reply = await handler(message, self)
            }
            if case .reply(let command, let payload) = reply {
                try? await send(counter: message.counter, command: command, payload: payload)
            }
        }
    }

    /// Called when the connection is gone: every waiting request fails.
    public func close() {
        closed = true
        for waiter in table.drain() { waiter.resume(throwing: LinkError.closed) }
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        strings.removeAll()
        files?.abandonAll()
    }

    // MARK: long strings

    private func newString(_ payload: [UInt8]) -> Reply {
        guard let size = Int(String(decoding: payload, as: UTF8.self)), size >= 0 else {
            return .err(.internal(1000, "invalid literal for int(): \(String(decoding: payload, as: UTF8.self))"))
        }
        guard size <= WireLimits.maxMessageSize else {
            return .reply(command: "error", payload: Array("Requested size exceeds maximum allowed limit".utf8))
        }
        var id: String
        repeat { id = String(UInt32.random(in: 0...UInt32.max)) } while strings[id] != nil
        strings[id] = LongString(buffer: [UInt8](repeating: 0, count: size), filled: 0)
        return .ok(id)
    }

    private func updateString(_ payload: [UInt8]) -> Reply {
        guard let space = payload.firstIndex(of: 0x20) else { return .err(.internal(1000, "str_upd without string ID")) }
        let id = String(decoding: payload[..<space], as: UTF8.self)
        guard var entry = strings.removeValue(forKey: id) else { return .err(.internal(1000, "'\(id)'")) }
        let chunk = payload[(space + 1)...]
        let n = min(chunk.count, entry.buffer.count - entry.filled)
        if n > 0 {
            entry.buffer.replaceSubrange(entry.filled..<entry.filled + n, with: chunk.prefix(n))
            entry.filled += n
        }
        strings[id] = entry
        return .ok("String updated")
    }

    private func errString(_ payload: [UInt8]) -> Reply {
        let size = Int(String(decoding: payload, as: UTF8.self)) ?? -1
        if let (id, _) = strings.first(where: { $0.value.buffer.count == size && $0.value.buffer.first.map { $0 == 0 } ?? true }) {
            strings[id] = nil
            return .ok(id)
        }
        return .ok("None")
    }

    /// Takes a received long string out of the table (the consumer frees it).
    public func takeString(_ id: String) -> [UInt8]? {
        strings.removeValue(forKey: id).map(\.buffer)
    }

    /// Sends `data` as a long string (`new_str` + `str_upd`…) and returns its ID on the peer.
    public func sendString(_ data: [UInt8]) async throws -> String {
        let created = try await request("new_str", text: String(data.count))
        guard case .ok(let idBytes) = created else { throw WazuhException.cluster(3016, created.text) }
        let id = String(decoding: idBytes, as: UTF8.self)
        let slice = WireLimits.requestChunk - idBytes.count - 1
        var offset = 0
        repeat {
            let end = min(data.count, offset + slice)
            _ = try await request("str_upd", idBytes + [0x20] + data[offset..<end])
            offset = end
        } while offset < data.count
        return id
    }

    // MARK: files

    private func fileCommand(_ message: WireMessage) -> Reply {
        let payload = message.payload
        let space = payload.firstIndex(of: 0x20)
        let relpath = String(decoding: payload[..<(space ?? payload.count)], as: UTF8.self)
        let rest = space.map { payload[($0 + 1)...] } ?? []
        do {
            switch message.name {
            case "new_file":
                let progress = try files!.start(relpath)
                onIncomingFile?(progress)
                return .reply(command: "ok ", payload: Array("Ready to receive new file".utf8))
            case "file_upd":
                try files!.update(relpath, rest)
                return .ok("File updated")
            default:
                try files!.finish(relpath, digest: rest)
                return .ok("File received correctly")
            }
        } catch FileReceiver.Failure.notAllowed {
            logger(.error, "Refused a file outside queue/cluster: '\(relpath)'")
            return .errText("Write path not allowed")
        } catch FileReceiver.Failure.checksumMismatch {
            return .errText("File wasn't correctly received. Checksums aren't equal.")
        } catch FileReceiver.Failure.unknownFile(let p) {
            return .err(.internal(1000, "'\(p)'"))
        } catch {
            return .err(.internal(1000, "\(error)"))
        }
    }

    private func cancelTask(_ payload: [UInt8]) -> Reply {
        let space = payload.firstIndex(of: 0x20) ?? payload.count
        let taskID = String(decoding: payload[..<space], as: UTF8.self)
        let errorText = space < payload.count ? WazuhException.parse(payload: Array(payload[(space + 1)...])).description : ""
        if taskID != "None" && !taskID.isEmpty {
            interruptedTasks.insert(taskID)
            logger(.error, "The task was canceled due to the following error on the remote node: \(errorText)")
        } else {
            logger(.error, "The task was requested to be canceled but no task_id was received: \(errorText)")
        }
        return .ok("Request received correctly")
    }

    public func wasInterrupted(_ taskID: String) -> Bool { interruptedTasks.contains(taskID) }
}
