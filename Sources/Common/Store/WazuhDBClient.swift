import Foundation
import Synchronization

/// wazuh-db's socket protocol (PROTOCOL.md §6.1): a Unix stream socket, each message a 4-byte
/// little-endian length and UTF-8 text; the answer `"<ok|due|err> <payload>"` with the same framing.
///
/// Connections are kept for reuse (one per concurrent caller, up to `maxIdle` idle). A connection that
/// fails is dropped; the next query opens a new one, so a wazuh-db restart costs the queries that were in
/// flight and nothing after it. A query that cannot be sent is retried once on a new connection when the
/// caller says it may be (it cannot have been executed); one whose answer is lost never is.
public final class WazuhDBClient: Sendable {
    /// The socket, `<home>/queue/db/wdb`.
    public let path: String
    /// How long one answer may take.
    public let timeout: Double
    /// Largest answer accepted: the framework's sync client refuses answers of 64 KiB and more (2009).
    public let maxResponseBytes: Int
    private let idle = Mutex<[Connection]>([])
    static let maxIdle = 4

    /// wazuh-db's limit on a query (`OS_MAXSTR` minus the command reserve).
    public static let maxQueryBytes = 65_536 - 512
    /// The framework's limit on an answer.
    public static let socketBufferBytes = 65_536

    public init(path: String, timeout: Double = 60, maxResponseBytes: Int = WazuhDBClient.socketBufferBytes) {
        self.path = path
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    public static func socketPath(home: String) -> String { home + "/queue/db/wdb" }

    /// One answer: its status word and the text after it.
    public struct Answer: Sendable, Equatable {
        public enum Status: String, Sendable { case ok, due, err }
        public let status: Status
        public let payload: String
    }

    /// Sends `query` and returns the answer; an `err` answer is returned, not thrown. Socket failures,
    /// a malformed or oversized answer are `StoreError`s naming the socket and what happened.
    public func query(_ query: String, retryIfUnsent: Bool = true) throws(StoreError) -> Answer {
        let bytes = Array(query.utf8)
        guard bytes.count <= Self.maxQueryBytes else {
            throw StoreError(.invalidInput, path: path,
                             "query of \(bytes.count) bytes is over wazuh-db's limit of \(Self.maxQueryBytes): \(query.prefix(60))…")
        }
        var message = withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) }
        message += bytes
        var attempt = 0
        while true {
            attempt += 1
            let connection = try take()
            do {
                try connection.send(message)
            } catch {
                // Not sent: wazuh-db cannot have run it; a stale connection (wazuh-db restarted) is the usual cause.
                if retryIfUnsent && attempt == 1 { continue }
                throw StoreError(.unavailable, path: path, "cannot send to wazuh-db: \(error)")
            }
            let answer: Answer
            do {
                answer = try connection.receive(timeout: timeout, limit: maxResponseBytes)
            } catch let failure as Connection.Failure where failure.tooLarge {
                throw StoreError(.responseTooLarge, path: path, failure.description)
            } catch {
                throw StoreError(.unavailable, path: path, "no answer from wazuh-db to \"\(query.prefix(60))\": \(error)")
            }
            give(connection)
            return answer
        }
    }

    /// `query` where only `ok` is success: `err` becomes a `.wazuhDB` error carrying wazuh-db's text.
    public func ok(_ text: String) throws(StoreError) -> String {
        let answer = try query(text)
        guard answer.status != .err else { throw StoreError(.wazuhDB, path: path, answer.payload) }
        return answer.payload
    }

    private func take() throws(StoreError) -> Connection {
        while let c = idle.withLock({ $0.popLast() }) {
            // An idle connection wazuh-db closed (it restarted) reads as end of stream: dropped, not reused.
            if case .success(nil) = Result(catching: { try c.socket.receive(until: ContinuousClock.now) }) { return c }
        }
        do {
            return Connection(try UnixSocket(connectingTo: path))
        } catch {
            throw StoreError(.unavailable, path: path, "cannot connect to wazuh-db: \(error)")
        }
    }

    private func give(_ c: Connection) {
        idle.withLock { if $0.count < Self.maxIdle { $0.append(c) } }
    }

    /// One open connection, used by one caller at a time (it leaves the idle list while in use).
    private final class Connection: @unchecked Sendable {
        let socket: UnixSocket
        init(_ socket: UnixSocket) { self.socket = socket }

        struct Failure: Error, CustomStringConvertible {
            let description: String
            var tooLarge = false
        }

        func send(_ bytes: [UInt8]) throws { try socket.send(bytes) }

        func receive(timeout: Double, limit: Int) throws -> Answer {
            let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
            var buffer: [UInt8] = []
            var expected: Int?
            while true {
                if expected == nil, buffer.count >= 4 {
                    let n = Int(UInt32(buffer[0]) | UInt32(buffer[1]) << 8 | UInt32(buffer[2]) << 16 | UInt32(buffer[3]) << 24)
                    guard n < limit else {
                        throw Failure(description: "Error 2009 - Pagination error. Response from wazuh-db was over the maximum socket buffer size (\(n) >= \(limit) bytes)", tooLarge: true)
                    }
                    expected = n
                }
                if let n = expected, buffer.count >= 4 + n {
                    guard buffer.count == 4 + n else { throw Failure(description: "wazuh-db sent \(buffer.count - 4 - n) bytes after its answer") }
                    return try Self.parse(buffer[4...])
                }
                guard let more = try socket.receive(until: deadline) else {
                    throw Failure(description: "timed out after \(timeout) s")
                }
                if more.isEmpty { throw Failure(description: "wazuh-db closed the connection") }
                buffer += more
            }
        }

        static func parse(_ bytes: ArraySlice<UInt8>) throws -> Answer {
            let text = String(decoding: bytes, as: UTF8.self)
            let space = text.firstIndex(of: " ") ?? text.endIndex
            guard let status = Answer.Status(rawValue: String(text[..<space])) else {
                throw Failure(description: "unexpected answer from wazuh-db: \(text.prefix(80))")
            }
            return Answer(status: status, payload: space < text.endIndex ? String(text[text.index(after: space)...]) : "")
        }
    }
}
