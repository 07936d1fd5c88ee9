import Common
import Foundation
import FuzzSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the daemon's local socket sends a client (`LocalClient`, LOCAL-DAPI-CONTROL.md §1): replies,
/// server→client requests (`new_str`, `str_upd`, `dapi_res`, `control_res`, `err`, …), exception JSON,
/// then the reply decoded and printed as `cluster_control` does (`ClusterControlRequests`, `ControlOutput`).
///
/// Input: one byte choosing the command, then the bytes the server sends, written to a real Unix socket
/// after the client's request arrives and followed by the end of the stream, so the client never waits
/// for a deadline. A frame whose counter is 0 gets the request's counter: that is how a script replies.
enum LocalHarness {
    static let commands = ["get_nodes", "get_health", "dapi", "sendsync", "get_config"]

    static let directory: String = {
        var template = Array("/tmp/clusterd-fuzz-local.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        atexit { try? FileManager.default.removeItem(atPath: LocalHarness.directory) }
        return made
    }()
    static let socketPath = directory + "/c-internal.sock"
    static let listener: Int32 = {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 4) == 0 else { FuzzInput.violated("cannot listen on \(socketPath)") }
        return fd
    }()

    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let command = commands[Int(first) % commands.count]
        let script = Array(bytes.dropFirst())
        let listener = self.listener
        let served = DispatchSemaphore(value: 0)
        let server = Thread {
            serve(script, on: listener)
            served.signal()
        }
        server.start()
        // Deadlines far past libFuzzer's -timeout: the end of the stream, never a timer, ends each run.
        let client = LocalClient(socketPath: socketPath, timeout: 60, asyncTimeout: 60, keepAliveInterval: 60)
        let reply = try? client.execute(command: command, payload: payload(command))
        served.wait()
        guard let reply else { return }
        switch command {
        case "get_nodes":
            guard let nodes = try? ClusterControlRequests.decode(reply) else { return }
            _ = ControlOutput.nodesTable(items: nodes["items"]?.arrayValue ?? [])
            _ = ClusterControlRequests.nodeNames(nodes)
        case "get_health":
            guard let health = try? ClusterControlRequests.decode(reply) else { return }
            _ = ControlOutput.health(clusterName: "wazuh", health: health, more: true)
            _ = ControlOutput.health(clusterName: "wazuh", health: health, more: false)
        case "dapi":
            guard let agents = try? ClusterControlRequests.agentsResult(ClusterControlRequests.decode(reply)) else { return }
            _ = ControlOutput.agentsTable(items: agents["items"]?.arrayValue ?? [])
        default:
            _ = try? ClusterControlRequests.decode(reply)
        }
    }

    static func payload(_ command: String) -> [UInt8] {
        switch command {
        case "get_nodes": return ClusterControlRequests.nodesPayload(filterNode: nil)
        case "get_health": return ClusterControlRequests.healthPayload(filterNode: nil)
        case "dapi": return ClusterControlRequests.agentsPayload(filterNode: nil, filterStatus: nil)
        default: return Array("{}".utf8)
        }
    }

    /// Accepts the client, reads its request frame, sends the script with the request's counter filled
    /// in, ends the stream, and reads whatever the client still sends (its answers to server requests)
    /// until it closes.
    static func serve(_ script: [UInt8], on listener: Int32) {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { FuzzInput.violated("accept failed: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        func receive() -> Bool {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { request += buffer[..<n] }
            return n > 0
        }
        while request.count < WireLimits.headerSize, receive() {}
        guard request.count >= WireLimits.headerSize else { return }
        let length = Int(FrameHeader(parsing: request, at: 0).length)
        while request.count < WireLimits.headerSize + length, receive() {}
        var bytes = script
        var offset = 0
        while offset + WireLimits.headerSize <= bytes.count {
            if bytes[offset..<offset + 4].allSatisfy({ $0 == 0 }) { bytes.replaceSubrange(offset..<offset + 4, with: request[0..<4]) }
            offset += WireLimits.headerSize + Int(FrameHeader(parsing: bytes, at: offset).length)
        }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the client has already given up and closed
            sent += n
        }
        shutdown(fd, Int32(SHUT_WR))
        while receive() { request.removeAll(keepingCapacity: true) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    LocalHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-local", LocalHarness.run) } }
#endif
