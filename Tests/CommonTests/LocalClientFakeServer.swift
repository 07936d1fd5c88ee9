import Foundation
@testable import Common

/// A scripted stand-in for the daemon's local socket: a thread accepts connections one after another and
/// runs a handler on each with blocking POSIX calls. Handler failures are collected for the test to check.
final class FakeLocalServer: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let path: String
    private let listenFD: Int32
    private let lock = NSLock()
    private var failures: [String] = []
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listenFD, 8) == 0 else {
            throw Failure(description: "cannot listen on \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(listenFD) }

    /// Serves `connections` connections in turn, then stops.
    func start(connections: Int = 1, _ handler: @escaping @Sendable (FakeConnection) throws -> Void) {
        let thread = Thread { [self] in
            defer { finished.signal() }
            for _ in 0..<connections {
                guard let fd = acceptOne() else { return }
                let connection = FakeConnection(fd: fd)
                do { try handler(connection) } catch { record("\(error)") }
                connection.close()
            }
        }
        thread.start()
    }

    /// Waits for the handler thread and returns what went wrong on the server side.
    func finish(timeout: Double = 10) -> [String] {
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            lock.withLock { stopRequested = true }
            _ = finished.wait(timeout: .now() + 2)
            record("server did not finish in \(timeout) s")
        }
        return lock.withLock { failures }
    }

    private func record(_ failure: String) { lock.withLock { failures.append(failure) } }

    private func acceptOne() -> Int32? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !lock.withLock({ stopRequested }) {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) > 0 {
                let fd = accept(listenFD, nil, nil)
                if fd >= 0 { return fd }
            }
        }
        record("no connection came")
        return nil
    }
}

/// One accepted connection of the fake server.
final class FakeConnection: @unchecked Sendable {
    private var fd: Int32
    private var inbox: [UInt8] = []
    private var decoder = MessageDecoder(fernet: nil)
    /// The server's own request counter (4.8.1 starts it at random; any value works).
    private(set) var counter: UInt32 = 3_043_730_420

    init(fd: Int32) { self.fd = fd }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// The next whole message from the client.
    func receive(timeout: Double = 5) throws -> WireMessage {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let parsed = try inbox.withUnsafeBytes { raw throws(WireError) in try FrameParser.parse(raw) }
            if let (frame, consumed) = parsed {
                inbox.removeFirst(consumed)
                if let message = try decoder.accept(frame) { return message }
                continue
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw FakeLocalServer.Failure(description: "no message from the client in \(timeout) s") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(left * 1000) + 1) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
            guard n > 0 else { throw FakeLocalServer.Failure(description: "the client closed the connection") }
            inbox.append(contentsOf: buffer[0..<n])
        }
    }

    /// Whether nothing the client sent is waiting to be read: a look that does not wait. What the client
    /// sent before it went back to waiting is already here, so this is exact once it waits again.
    func nothingPending() -> Bool {
        guard inbox.isEmpty else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) == 0
    }

    /// Expects a message with this command (and payload text, when given).
    @discardableResult
    func expect(_ command: String, _ text: String? = nil, timeout: Double = 5) throws -> WireMessage {
        let m = try receive(timeout: timeout)
        let payload = String(decoding: m.payload, as: UTF8.self)
        guard m.name == command, text == nil || payload == text else {
            throw FakeLocalServer.Failure(description: "expected \(command) \(text ?? "…"), got \(m.name) \(payload)")
        }
        return m
    }

    func send(counter: UInt32, command: String, payload: [UInt8]) throws {
        let bytes = try MessageEncoder(fernet: nil).encode(counter: counter, command: command, payload: payload)
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n == bytes.count else { throw FakeLocalServer.Failure(description: "short write") }
    }

    func reply(to request: WireMessage, _ command: String, _ text: String) throws {
        try send(counter: request.counter, command: command, payload: Array(text.utf8))
    }

    /// Sends a server→client request and returns the client's reply (same counter), skipping nothing.
    @discardableResult
    func request(_ command: String, _ payload: [UInt8]) throws -> WireMessage {
        counter &+= 1
        try send(counter: counter, command: command, payload: payload)
        let reply = try receive()
        guard reply.counter == counter else {
            throw FakeLocalServer.Failure(description: "reply counter \(reply.counter) to \(command), expected \(counter)")
        }
        return reply
    }

    @discardableResult
    func request(_ command: String, _ text: String) throws -> WireMessage { try request(command, Array(text.utf8)) }

    /// The `new_str` / `str_upd` / `dapi_res` sequence of `send_string` followed by the pointer (§1.6).
    func sendString(_ bytes: [UInt8], pointer: String = "dapi_res") throws -> [WireMessage] {
        let id = try request("new_str", String(bytes.count))
        let idText = String(decoding: id.payload, as: UTF8.self)
        let upd = try request("str_upd", Array((idText + " ").utf8) + bytes)
        let done = try request(pointer, idText)
        return [id, upd, done]
    }
}
