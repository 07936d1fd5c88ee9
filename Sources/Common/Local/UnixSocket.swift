import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Darwin)
private let streamSocketType = SOCK_STREAM
/// Darwin has no MSG_NOSIGNAL; SIGPIPE is avoided with SO_NOSIGPIPE at connect time instead.
private func sendNoSignal(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { send(fd, buffer, count, 0) }
#else
private let streamSocketType = Int32(SOCK_STREAM.rawValue)
/// `MSG_NOSIGNAL` turns a write to a closed peer into EPIPE instead of a process-killing SIGPIPE.
private func sendNoSignal(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { send(fd, buffer, count, Int32(MSG_NOSIGNAL)) }
#endif

/// A blocking `AF_UNIX` stream socket with deadline-bounded reads: all a one-request command-line client
/// needs, without an event loop.
public final class UnixSocket {
    public let path: String
    private var fd: Int32

    /// Connects to `path`. Missing file and refused connections get their own errors (both mean "the
    /// daemon is not running"); anything else is an I/O error naming the call.
    public init(connectingTo path: String) throws(LocalClientError) {
        self.path = path
        let fd = socket(AF_UNIX, streamSocketType, 0)
        guard fd >= 0 else { throw Self.ioError("socket", path) }
        self.fd = fd
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // On failure the socket is closed through closeSocket(), which forgets the descriptor: the throw
        // comes after every property is set, so deinit runs too, and a second close(2) would hit whatever
        // file another thread had meanwhile been given that number.
        guard pathBytes.count < capacity else {
            closeSocket()
            throw .io(operation: "connect", path: path, errno: ENAMETOOLONG,
                      reason: "socket path is \(pathBytes.count) bytes; the limit is \(capacity - 1)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let code = errno
            closeSocket()
            switch code {
            case ENOENT: throw .socketMissing(path: path)
            case ECONNREFUSED: throw .connectionRefused(path: path)
            default: throw .io(operation: "connect", path: path, errno: code, reason: String(cString: strerror(code)))
            }
        }
    }

    deinit { closeSocket() }

    public func closeSocket() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// Writes all bytes; a closed peer is an error, not a signal.
    public func send(_ bytes: [UInt8]) throws(LocalClientError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                sendNoSignal(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.ioError("send", path)
            }
            offset += n
        }
    }

    /// Waits until `deadline` for bytes. Returns nil on timeout, `[]` at end of stream.
    public func receive(until deadline: ContinuousClock.Instant, maxBytes: Int = 65536) throws(LocalClientError) -> [UInt8]? {
        let clock = ContinuousLocalClock()
        return try receive(until: clock.offset(of: deadline), clock: clock, maxBytes: maxBytes)
    }

    /// Waits for bytes until `clock` reaches `deadline` (the clock does the waiting). Returns nil at the
    /// deadline, `[]` at end of stream.
    public func receive(until deadline: Duration, clock: any LocalClock,
                        maxBytes: Int = 65536) throws(LocalClientError) -> [UInt8]? {
        var buffer: [UInt8] = []
        guard try receive(appendingTo: &buffer, until: deadline, clock: clock, maxBytes: maxBytes) != nil else { return nil }
        return buffer
    }

    /// `receive(until:clock:)` appending straight to `buffer` (no intermediate arrays): the number of bytes
    /// added, 0 at end of stream, nil at the deadline.
    public func receive(appendingTo buffer: inout [UInt8], until deadline: Duration, clock: any LocalClock,
                        maxBytes: Int = 262_144) throws(LocalClientError) -> Int? {
        while true {
            switch clock.waitForInput(on: fd, until: deadline) {
            case .deadline: return nil
            case .failed(let code):
                throw .io(operation: "poll", path: path, errno: code, reason: String(cString: strerror(code)))
            case .input: break
            }
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: maxBytes))
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + start, maxBytes, 0) }
            let code = errno
            buffer.removeSubrange((start + max(0, n))...)
            if n < 0 {
                if code == EINTR || code == EAGAIN { continue }
                if code == ECONNRESET { return 0 }
                errno = code
                throw Self.ioError("recv", path)
            }
            return n
        }
    }

    private static func ioError(_ operation: String, _ path: String) -> LocalClientError {
        let code = errno
        return .io(operation: operation, path: path, errno: code, reason: String(cString: strerror(code)))
    }
}
