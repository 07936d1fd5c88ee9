import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the built `frame-dump` and collects its output as it comes.
final class FrameDumpProcess: @unchecked Sendable {
    static var binary: URL { URL(fileURLWithPath: TestPaths.tool("frame-dump")) }

    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private var openStreams = 2

    init(_ arguments: [String], stdin: FileHandle? = nil) throws {
        process.executableURL = Self.binary
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = stdin ?? FileHandle.nullDevice
        try process.run()
        // One blocking reader thread per pipe: simple, and it sees end of file exactly once.
        drain(outPipe.fileHandleForReading) { $0.out.append($1) }
        drain(errPipe.fileHandleForReading) { $0.err.append($1) }
    }

    private func drain(_ handle: FileHandle, into append: @escaping @Sendable (FrameDumpProcess, Data) -> Void) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                lock.withLock {
                    if data.isEmpty { openStreams -= 1 } else { append(self, data) }
                }
                if data.isEmpty { return }
            }
        }
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }
    private var drained: Bool { lock.withLock { openStreams == 0 } }

    /// Waits (up to `timeout` seconds) until `condition` holds; returns whether it did.
    func wait(timeout: Double = 10, until condition: (FrameDumpProcess) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self) { return true }
            usleep(20_000)
        }
        return condition(self)
    }

    /// Waits for the process to exit by itself and its output to be read to the end.
    func finish(timeout: Double = 30) -> Int32? {
        guard wait(timeout: timeout, until: { !$0.process.isRunning && $0.drained }) else { return nil }
        return process.terminationStatus
    }

    /// Always called by the tests: the process must not outlive them. SIGTERM first, then SIGKILL.
    func kill() {
        guard process.isRunning else { return }
        process.terminate()
        if !wait(timeout: 3, until: { !$0.process.isRunning }) {
            _ = Foundation.kill(process.processIdentifier, SIGKILL)
            _ = wait(timeout: 3, until: { !$0.process.isRunning })
        }
    }

    /// Runs to completion and returns (status, stdout, stderr).
    static func run(_ arguments: [String], stdin: FileHandle? = nil) throws -> (status: Int32?, out: String, err: String) {
        let p = try FrameDumpProcess(arguments, stdin: stdin)
        defer { p.kill() }
        let status = p.finish()
        return (status, p.stdout, p.stderr)
    }
}

/// Minimal blocking IPv4 TCP sockets for the proxy test, with receive timeouts so nothing hangs.
final class TestSocket {
    let fd: Int32
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    enum Failure: Error { case call(String, Int32) }

    private static func check(_ result: Int32, _ what: String) throws -> Int32 {
        guard result >= 0 else { throw Failure.call(what, errno) }
        return result
    }

    private static func make() throws -> TestSocket {
        #if canImport(Glibc)
        let fd = try check(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0), "socket")
        #else
        let fd = try check(socket(AF_INET, SOCK_STREAM, 0), "socket")
        #endif
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return TestSocket(fd: fd)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    /// A listening socket on 127.0.0.1 and an ephemeral port.
    static func listenLoopback() throws -> (TestSocket, UInt16) {
        let s = try make()
        var address = loopback(port: 0)
        _ = try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try check(bind(s.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)), "bind")
            }
        }
        _ = try check(listen(s.fd, 4), "listen")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = try withUnsafeMutablePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try check(getsockname(s.fd, $0, &length), "getsockname") }
        }
        return (s, UInt16(bigEndian: address.sin_port))
    }

    static func connectLoopback(port: UInt16) throws -> TestSocket {
        let s = try make()
        var address = loopback(port: port)
        _ = try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try check(connect(s.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)), "connect")
            }
        }
        return s
    }

    func acceptOne() throws -> TestSocket {
        let fd = try Self.check(accept(self.fd, nil, nil), "accept")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return TestSocket(fd: fd)
    }

    func sendAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure.call("send", errno) }
            sent += n
        }
    }

    /// Reads exactly `count` bytes, or fewer if the peer closes or the timeout passes.
    func readBytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - out.count), 0) }
            guard n > 0 else { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Closes once; a second call does nothing (the descriptor number may belong to someone else by then).
    func closeSocket() {
        guard !closed else { return }
        closed = true
        _ = close(fd)
    }

    deinit { closeSocket() }
}
