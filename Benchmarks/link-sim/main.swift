import Common
import Foundation

// Simulated worker links for benchmarks: N TCP connections from one process, each saying `hello` and then
// sending `echo-c keepalive` every interval. Connections come from 127.0.0.2, .3, ... (10 per address),
// because the master serves at most 10 connections per source address.
//
// usage: link-sim PORT KEY LINKS INTERVAL_S DURATION_S

let args = CommandLine.arguments
guard args.count == 6, let port = UInt16(args[1]), let links = Int(args[3]), let interval = Double(args[4]), let duration = Double(args[5]) else {
    FileHandle.standardError.write(Data("usage: link-sim PORT KEY LINKS INTERVAL_S DURATION_S\n".utf8))
    exit(2)
}
let encoder = MessageEncoder(fernet: try Fernet(clusterKey: args[2]))

func connectFrom(_ source: String) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var src = sockaddr_in()
    src.sin_family = sa_family_t(AF_INET)
    src.sin_addr.s_addr = inet_addr(source)
    _ = withUnsafePointer(to: &src) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var dst = sockaddr_in()
    dst.sin_family = sa_family_t(AF_INET)
    dst.sin_addr.s_addr = inet_addr("127.0.0.1")
    dst.sin_port = port.bigEndian
    let rc = withUnsafePointer(to: &dst) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    if rc != 0 { perror("connect"); exit(1) }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return fd
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 { off += n } else if errno == EAGAIN { usleep(100) } else { return }
    }
}

var fds: [Int32] = []
var counters: [UInt32] = []
for i in 0..<links {
    let fd = connectFrom("127.0.0.\(2 + i / 10)")
    fds.append(fd)
    counters.append(UInt32(i) << 20)
    sendAll(fd, try encoder.encode(counter: counters[i], command: "hello", payload: Array("sim-\(i) wazuh worker 4.8.1".utf8)))
}
var buffer = [UInt8](repeating: 0, count: 65536)
var received = 0
let start = Date()
var nextRound = start
var rounds = 0
while Date().timeIntervalSince(start) < duration {
    if Date() >= nextRound {
        for i in fds.indices {
            counters[i] &+= 1
            sendAll(fds[i], try encoder.encode(counter: counters[i], command: "echo-c", payload: Array("keepalive".utf8)))
        }
        rounds += 1
        nextRound = nextRound.addingTimeInterval(interval)
    }
    for fd in fds {
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += n
        }
    }
    usleep(20_000)
}
print("link-sim: \(links) links, \(rounds) keep-alive rounds, \(received) bytes received")
for fd in fds { close(fd) }
