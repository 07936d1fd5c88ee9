import Common
import Foundation
import Testing

/// Real `clusterd` processes for integration tests: temporary homes, ephemeral loopback ports, short
/// intervals through the internal-options override, and a stop that always happens.
enum Harness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binDir: String {
        ProcessInfo.processInfo.environment["CLUSTERD_BIN_DIR"] ?? packageRoot.appendingPathComponent(".build/debug").path
    }
    static let key = "IntegrationTestKey0123456789abcd"

    /// A free TCP port on 127.0.0.1 (bound then released; the kernel does not hand it out again at once).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func tempDir(_ label: String) -> String {
        let path = NSTemporaryDirectory() + "clusterd-test-\(label)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    struct NodeSpec {
        var name: String
        var type: String = "worker"
        var cluster = "wazuh"
        var key = Harness.key
        var port: Int
        var master = "127.0.0.1"
        /// The address the node binds (`<bind_addr>`): the master listens there.
        var bindAddr = "127.0.0.1"
        /// cluster.json `intervals` overrides, e.g. `["worker": ["keep_alive": 0.2]]`.
        var intervals: [String: [String: Double]] = [:]
        /// Other top-level entries of `etc/cluster-internal.json`, e.g. `["registration": ["use_authd_socket": true]]`.
        var options: [String: JSONValue] = [:]
    }

    /// Fast defaults so tests finish in seconds.
    static let fastIntervals: [String: [String: Double]] = [
        "worker": ["keep_alive": 0.3, "connection_retry": 0.3, "sync_integrity": 0.5, "sync_agent_info": 0.5],
        "master": ["check_worker_lastkeepalive": 0.3, "max_allowed_time_without_keepalive": 2, "recalculate_integrity": 0.4,
                   "sync_agent_groups": 0.5, "agent_group_start_delay": 0.5],
        "communication": ["timeout_cluster_request": 3],
    ]

    static func makeHome(_ spec: NodeSpec, in base: String) throws -> String {
        let home = base + "/" + spec.name
        for dir in ["etc/shared/default", "etc/rules", "etc/decoders", "etc/lists", "logs", "queue/cluster", "var/run", "queue/db"] {
            try FileManager.default.createDirectory(atPath: home + "/" + dir, withIntermediateDirectories: true)
        }
        let conf = """
        <ossec_config>
          <cluster>
            <name>\(spec.cluster)</name>
            <node_name>\(spec.name)</node_name>
            <node_type>\(spec.type)</node_type>
            <key>\(spec.key)</key>
            <port>\(spec.port)</port>
            <bind_addr>\(spec.bindAddr)</bind_addr>
            <nodes>
              <node>\(spec.master)</node>
            </nodes>
            <hidden>no</hidden>
            <disabled>no</disabled>
          </cluster>
        </ossec_config>

        """
        try conf.write(toFile: home + "/etc/ossec.conf", atomically: true, encoding: .utf8)
        var merged = fastIntervals
        for (section, values) in spec.intervals { merged[section, default: [:]].merge(values) { $1 } }
        var intervals = JSONObject()
        for (section, values) in merged.sorted(by: { $0.key < $1.key }) {
            intervals[section] = .object(JSONObject(values.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.double($0.value)) }))
        }
        var json = JSONObject([("intervals", .object(intervals))])
        for (key, value) in spec.options.sorted(by: { $0.key < $1.key }) { json[key] = value }
        try JSONValue.object(json).pythonText.write(toFile: home + "/etc/cluster-internal.json", atomically: true, encoding: .utf8)
        return home
    }

    /// Starts a master from `spec` (its `port` is ignored) on a fresh port, retrying with another port
    /// when the one picked was taken by someone else in the meantime (`freePort()` releases the port
    /// before the daemon binds it). Files already in the home are kept between attempts; only
    /// `etc/ossec.conf`, `etc/cluster-internal.json` and the logs are rewritten. Returns once the master
    /// logged that it serves on its port.
    /// `portSource` picks the port of each attempt; `launcher` runs the daemon under another program
    /// (see `Node`).
    static func startMaster(_ spec: NodeSpec, in base: String, extraArgs: [String] = ["-d"], attempts: Int = 5,
                            startupTimeout: Double = 60, launcher: [String] = [],
                            portSource: () -> Int = freePort) throws -> (node: Node, port: Int) {
        var spec = spec
        spec.type = "master"
        var outcomes: [String] = []
        for _ in 0..<attempts {
            spec.port = portSource()
            let home = try makeHome(spec, in: base)
            try? FileManager.default.removeItem(atPath: home + "/logs/cluster.log")
            let node = try Node(home: home, extraArgs: extraArgs, launcher: launcher)
            let outcome = node.waitForMasterStartup(port: spec.port, timeout: startupTimeout)
            if outcome == .serving { return (node, spec.port) }
            node.stop()
            outcomes.append("port \(spec.port): \(outcome)\n\(node.log.suffix(1000))\(node.stderr.suffix(1000))")
            // A master that neither served nor failed to bind will not do better on another port.
            if outcome == .timedOut { break }
        }
        throw StartupFailure(description: "the master did not start:\n" + outcomes.joined(separator: "\n"))
    }

    /// Starts the stopped master `previous` again from its home, on the port its workers know
    /// (`port`), and waits for it to serve there or to fail to bind it (someone may have taken the
    /// port while the master was down: the caller then runs its scenario again on a new port).
    static func restartMaster(_ previous: Node, port: Int, extraArgs: [String] = ["-d"],
                              startupTimeout: Double = 60) throws -> (node: Node, outcome: Node.Startup) {
        // The log keeps the lines of the previous run: only what the new process writes counts.
        let offset = previous.log.utf8.count
        let node = try Node(home: previous.home, extraArgs: extraArgs, launcher: previous.launcher)
        return (node, node.waitForMasterStartup(port: port, timeout: startupTimeout, logOffset: offset))
    }

    /// What a master's start-up `log` (and process output) says so far about serving on `port`:
    /// `.serving`, `.addressInUse`, or nil while it says neither.
    static func startupOutcome(log: String, output: String = "", port: Int) -> Node.Startup? {
        if log.contains("[Master] [Main] Serving on ('") && log.contains(", \(port))") { return .serving }
        for text in [log, output] where text.contains("Address already in use") || text.contains("EADDRINUSE") || text.contains("errno: 98)") {
            return .addressInUse
        }
        return nil
    }

    struct StartupFailure: Error, CustomStringConvertible {
        let description: String
    }
}

/// A running `clusterd -f`; stopped by `stop()` or, as a last resort, when the object goes away.
final class Node: @unchecked Sendable {
    let home: String
    let process = Process()
    let outputPath: String
    /// The program and arguments the daemon runs under, e.g. `["/usr/sbin/ip", "netns", "exec", "ns1"]`
    /// (empty: run directly). The launcher must exec the daemon in its own process (`ip netns exec`
    /// does), so that `pid` and the signals sent to it are the daemon's.
    let launcher: [String]

    /// `stayRoot`: pass `-r`, so that a test run as root keeps root in its root-owned temporary home
    /// instead of switching to the wazuh user (which could not write there).
    init(home: String, extraArgs: [String] = ["-d"], stayRoot: Bool = true, launcher: [String] = []) throws {
        self.home = home
        self.launcher = launcher
        outputPath = home + "/stderr.log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let daemon = Harness.binDir + "/clusterd"
        let arguments = ["-f", "--home", home] + (stayRoot ? ["-r"] : []) + extraArgs
        process.executableURL = URL(fileURLWithPath: launcher.first ?? daemon)
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [daemon] + arguments
        let out = FileHandle(forWritingAtPath: outputPath)!
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: home + "/logs/cluster.log", encoding: .utf8)) ?? "" }
    /// What the process wrote to stdout and stderr.
    var stderr: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    enum Startup: Equatable, CustomStringConvertible {
        /// `[Master] [Main] Serving on ('…', port)` was logged.
        case serving
        /// The port was taken (EADDRINUSE in the logs).
        case addressInUse
        /// The process ended without serving.
        case exited(Int32)
        case timedOut

        var description: String {
            switch self {
            case .serving: return "serving"
            case .addressInUse: return "address already in use"
            case .exited(let status): return "exited with status \(status) before serving"
            case .timedOut: return "neither served nor failed"
            }
        }
    }

    /// Waits until this master serves on `port`, failed to bind it, or exited. Only the log after its
    /// first `logOffset` bytes counts (a restarted master appends to the log of the previous run).
    func waitForMasterStartup(port: Int, timeout: Double, logOffset: Int = 0) -> Startup {
        var outcome = Startup.timedOut
        let newLog = { String(decoding: self.log.utf8.dropFirst(logOffset), as: UTF8.self) }
        waitUntil(timeout) {
            if let seen = Harness.startupOutcome(log: newLog(), output: stderr, port: port) {
                outcome = seen
                return true
            }
            if !isRunning {
                // It may have logged the bind failure just before exiting.
                let all = newLog() + stderr
                outcome = all.contains("Address already in use") || all.contains("EADDRINUSE") ? .addressInUse : .exited(process.terminationStatus)
                return true
            }
            return false
        }
        return outcome
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds. Returns the exit status.
    @discardableResult
    func stop(grace: Double = 5) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Polls `condition` every 50 ms until it holds or `timeout` seconds pass.
@discardableResult
func waitUntil(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

/// Runs a built tool and returns (status, stdout, stderr).
func runTool(_ name: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    try runTool(name, args, limit: nil)!
}

/// Runs a built tool, killing it if it has not finished within `limit` seconds (then returns nil). The
/// limit is a bound on how long a test waits, not a measurement.
func runTool(_ name: String, _ args: [String], limit: Double?) throws -> (status: Int32, out: String, err: String)? {
    try runProgram(Harness.binDir + "/" + name, args, limit: limit)
}

/// Runs the program at `path` (with `environment` instead of this process's when given), killing it if it
/// has not finished within `limit` seconds (then returns nil).
func runProgram(_ path: String, _ args: [String], environment: [String: String]? = nil,
                limit: Double? = nil) throws -> (status: Int32, out: String, err: String)? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    try p.run()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    let readers = [Thread { outData = out.fileHandleForReading.readDataToEndOfFile() },
                   Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }]
    for t in readers { t.start() }
    if let limit, done.wait(timeout: .now() + limit) == .timedOut {
        kill(p.processIdentifier, SIGKILL)
        done.wait()
        while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
        return nil
    }
    if limit == nil { done.wait() }
    while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// Figures of a running process read from `/proc`.
enum ProcFS {
    /// Resident set size in bytes (`VmRSS` of `/proc/<pid>/status`), nil if unreadable.
    static func residentBytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
        return kb * 1024
    }

    /// Number of open descriptors (entries of `/proc/<pid>/fd`), nil if unreadable.
    static func openDescriptors(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    /// What the process's descriptors point at (`/proc/<pid>/fd/*` link targets).
    static func openFiles(_ pid: Int32) -> [String] {
        let dir = "/proc/\(pid)/fd"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)
        }
    }
}

/// A blocking cluster client for tests: raw frames over TCP or a Unix socket, optional Fernet.
final class RawClient {
    let fd: Int32
    let encoder: MessageEncoder
    var decoder: MessageDecoder
    var buffer: [UInt8] = []
    var counter = UInt32.random(in: 0...UInt32.max)

    init(port: Int, key: String?) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
        let fernet = try key.map { try Fernet(clusterKey: $0) }
        encoder = MessageEncoder(fernet: fernet)
        decoder = MessageDecoder(fernet: fernet)
        setTimeout(5)
    }

    init(connected fd: Int32, key: String?) throws {
        self.fd = fd
        let fernet = try key.map { try Fernet(clusterKey: $0) }
        encoder = MessageEncoder(fernet: fernet)
        decoder = MessageDecoder(fernet: fernet)
        setTimeout(10)
    }

    init(unixPath: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in unixPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
        encoder = MessageEncoder(fernet: nil)
        decoder = MessageDecoder(fernet: nil)
        setTimeout(5)
    }

    deinit { close(fd) }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func sendRaw(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    @discardableResult
    func send(_ command: String, _ text: String) throws -> UInt32 {
        counter &+= 1
        sendRaw(try encoder.encode(counter: counter, command: command, payload: Array(text.utf8)))
        return counter
    }

    /// The next whole message, or nil when the peer closed the connection or the read timed out.
    func receive() throws -> WireMessage? {
        while true {
            let parsed = try buffer.withUnsafeBytes { try FrameParser.parse($0) }
            if let (frame, consumed) = parsed {
                buffer.removeFirst(consumed)
                if let m = try decoder.accept(frame) { return m }
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Sends a request and returns the reply with the same counter (answering nothing else).
    func request(_ command: String, _ text: String) throws -> WireMessage? {
        let c = try send(command, text)
        while let m = try receive() {
            if m.counter == c { return m }
        }
        return nil
    }

    /// True when the peer has closed the connection (read returns 0 or an error other than a timeout).
    func isClosedByPeer(within seconds: Double) -> Bool {
        setTimeout(seconds)
        var byte: UInt8 = 0
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return true }
        }
        return false
    }
}

/// A one-connection TCP listener for tests that play the master.
final class RawListener {
    let fd: Int32
    let port: Int

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listen(fd, 4)
    }

    deinit { close(fd) }

    /// Waits up to `timeout` seconds for a connection.
    func accept(key: String?, timeout: Double = 10) throws -> RawClient? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return nil }
        let conn = Glibc.accept(fd, nil, nil)
        guard conn >= 0 else { return nil }
        return try RawClient(connected: conn, key: key)
    }
}

extension RawClient {
    /// Replies to a request with the same counter.
    func reply(to message: WireMessage, _ command: String, _ payload: [UInt8]) throws {
        sendRaw(try encoder.encode(counter: message.counter, command: command, payload: payload))
    }

    /// Sends a request and answers the peer's own requests with `answer` until the reply arrives.
    func request(_ command: String, payload: [UInt8], answering answer: (WireMessage) throws -> Void) throws -> WireMessage? {
        counter &+= 1
        let c = counter
        sendRaw(try encoder.encode(counter: c, command: command, payload: payload))
        while let m = try receive() {
            if m.counter == c && ["ok", "err", "ok-m", "ok-c", "error"].contains(m.name) { return m }
            try answer(m)
        }
        return nil
    }
}

/// The harness's own start-up retry.
@Suite(.serialized) struct HarnessTests {
    @Test func startMasterRetriesOnATakenPort() throws {
        let base = Harness.tempDir("retry")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let taken = try RawListener()
        var ports = [taken.port]
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base) {
            ports.isEmpty ? Harness.freePort() : ports.removeFirst()
        }
        defer { master.stop() }
        #expect(port != taken.port)
        #expect(master.isRunning)
        #expect(master.log.contains("[Master] [Main] Serving on ('127.0.0.1', \(port))"))
    }
}
