import Foundation

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
