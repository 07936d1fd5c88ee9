import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The time source of `LocalClient`'s timers: the deadline of the direct reply, the deadline of an
/// asynchronous result and the keep-alive interval. Instants are durations since the clock's own origin.
/// The clock also does the waiting, so that a clock which moves only when told (a test's) can end a wait
/// when it is moved, instead of when real time has passed.
public protocol LocalClock: Sendable {
    /// Time elapsed since the clock's origin; it never decreases.
    var now: Duration { get }
    /// Blocks until `descriptor` is readable (bytes, end of stream or an error to collect) or until `now`
    /// reaches `deadline`, whichever comes first. A deadline already reached returns `.deadline` at once.
    func waitForInput(on descriptor: Int32, until deadline: Duration) -> LocalClockWakeUp
}

/// Why `LocalClock.waitForInput` returned.
public enum LocalClockWakeUp: Equatable, Sendable {
    /// The descriptor is readable.
    case input
    /// The clock reached the deadline first.
    case deadline
    /// Waiting failed (`poll(2)`'s errno).
    case failed(errno: Int32)
}

/// The real clock: `ContinuousClock` time from the moment the value was made, waits done with `poll(2)`.
public struct ContinuousLocalClock: LocalClock {
    public let origin: ContinuousClock.Instant

    public init(origin: ContinuousClock.Instant = .now) { self.origin = origin }

    public var now: Duration { origin.duration(to: .now) }

    /// `instant` as a duration since this clock's origin.
    public func offset(of instant: ContinuousClock.Instant) -> Duration { origin.duration(to: instant) }

    public func waitForInput(on descriptor: Int32, until deadline: Duration) -> LocalClockWakeUp {
        while true {
            let remaining = deadline - now
            if remaining <= .zero { return .deadline }
            let (seconds, attoseconds) = remaining.components
            let ms = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, ms)
            if ready < 0 {
                if errno == EINTR { continue }
                return .failed(errno: errno)
            }
            if ready > 0 { return .input }
            // Timed out: the loop re-checks the deadline (poll may return early by a rounding).
        }
    }
}

/// A client of the daemon's local socket `<home>/queue/cluster/c-internal.sock` (LOCAL-DAPI-CONTROL.md
/// §1.2–§1.8): one connection, one request, blocking. Built for command-line tools, which have nothing else
/// to do while they wait, so it needs no event loop.
///
/// `execute` sends the command and returns the result payload:
/// - a direct `ok` reply is the result, unless the command is asynchronous (`dapi`, `dapi_fwd`, `send_file`,
///   `sendasync`, `sendsync`) or the reply is `Sent request to master node` (a worker relaying `get_nodes` /
///   `get_health`): then the result is the payload of a later server→client request (`control_res`,
///   `dapi_res` after `new_str`/`str_upd`, `ok`, …), which is acknowledged as 4.8.1's client does;
/// - an `err` reply or an error result throws (`WazuhException` for exception JSON, `LocalClientError`
///   otherwise).
public struct LocalClient: Sendable {
    public let socketPath: String
    /// Seconds to wait for the direct reply (`timeout_cluster_request`).
    public var timeout: Double
    /// Seconds to wait for an asynchronous result after the direct reply (`timeout_dapi_request`).
    public var asyncTimeout: Double
    /// While waiting for an asynchronous result, an `echo-c keepalive` is sent this often so the daemon's
    /// keep-alive sweep does not drop the connection (`keep_alive`).
    public var keepAliveInterval: Double
    /// The clock of the three timers above (the real one unless a test gives its own).
    public var clock: any LocalClock

    /// The reply text of a worker that relays the request to its master.
    public static let relayedReply = "Sent request to master node"
    /// Commands whose result always comes later as a server→client request.
    public static let asyncCommands: Set<String> = ["dapi", "dapi_fwd", "send_file", "sendasync", "sendsync"]

    public init(home: String, timeout: Double = 20, asyncTimeout: Double = 200, keepAliveInterval: Double = 60,
                clock: any LocalClock = ContinuousLocalClock()) {
        self.init(socketPath: home + "/queue/cluster/c-internal.sock", timeout: timeout, asyncTimeout: asyncTimeout,
                  keepAliveInterval: keepAliveInterval, clock: clock)
    }

    public init(socketPath: String, timeout: Double = 20, asyncTimeout: Double = 200, keepAliveInterval: Double = 60,
                clock: any LocalClock = ContinuousLocalClock()) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.asyncTimeout = asyncTimeout
        self.keepAliveInterval = keepAliveInterval
        self.clock = clock
    }

    /// Sends `command` with `payload` and returns the result payload. Throws `LocalClientError` (socket,
    /// timeout, protocol) or `WazuhException` (the daemon's `err`).
    public func execute(command: String, payload: [UInt8]) throws -> [UInt8] {
        let socket = try UnixSocket(connectingTo: socketPath)
        defer { socket.closeSocket() }
        var session = LocalSession(socket: socket, client: self)
        return try session.run(command: command, payload: payload)
    }

    /// `execute` with a text payload, returning text.
    public func execute(command: String, text: String) throws -> String {
        String(decoding: try execute(command: command, payload: Array(text.utf8)), as: UTF8.self)
    }

    /// The error an error-carrying payload stands for: the exception JSON when it is one, the text otherwise.
    public static func remoteError(_ payload: [UInt8]) -> any Error {
        if let json = try? JSONParser.parse(payload), json["__wazuh_exception__"] != nil || json["__unhandled_exc__"] != nil {
            return WazuhException.parse(payload: payload)
        }
        return LocalClientError.remoteText(String(decoding: payload, as: UTF8.self))
    }
}

/// The state of one `execute` call: frames in and out, the strings the daemon is sending, the result.
struct LocalSession {
    let socket: UnixSocket
    let client: LocalClient
    private var counter = UInt32.random(in: .min ... .max)
    private var outstanding: Set<UInt32> = []
    private var inbox: [UInt8] = []
    private var decoder = MessageDecoder(fernet: nil)
    private var strings: [String: [UInt8]] = [:]
    private var asyncResult: Result<[UInt8], any Error>?

    init(socket: UnixSocket, client: LocalClient) {
        self.socket = socket
        self.client = client
    }

    mutating func run(command: String, payload: [UInt8]) throws -> [UInt8] {
        let requestCounter = try sendRequest(command: command, payload: payload)
        // sendsync gets no direct reply from a worker (§1.7 F): its result is the later `ok` request.
        var direct: [UInt8]? = nil
        var needAsync = LocalClient.asyncCommands.contains(command)
        var waitingDirect = command != "sendsync"
        let clock = client.clock
        let start = clock.now
        var deadline = start + .seconds(waitingDirect ? client.timeout : client.asyncTimeout)
        var nextKeepAlive = start + .seconds(client.keepAliveInterval)
        while true {
            if !waitingDirect {
                if !needAsync, let direct { return direct }
                if let asyncResult { return try asyncResult.get() }
            }
            let wakeUp = waitingDirect ? deadline : min(deadline, nextKeepAlive)
            guard let message = try nextMessage(until: wakeUp, command: command) else {
                let now = clock.now
                if !waitingDirect && now >= nextKeepAlive && now < deadline {
                    _ = try sendRequest(command: "echo-c", payload: Array("keepalive".utf8))
                    nextKeepAlive = now + .seconds(client.keepAliveInterval)
                    continue
                }
                guard now >= deadline else { continue }
                if waitingDirect && needAsync {
                    // 4.8.1 keeps waiting for the result of an asynchronous command whose first reply is late.
                    waitingDirect = false
                    deadline = now + .seconds(client.asyncTimeout)
                    continue
                }
                throw LocalClientError.timeout(command: command, seconds: waitingDirect ? client.timeout : client.asyncTimeout)
            }
            if outstanding.contains(message.counter) {
                outstanding.remove(message.counter)
                guard message.counter == requestCounter else { continue }  // an echo-c keep-alive reply
                switch message.name {
                case "ok":
                    let text = String(decoding: message.payload, as: UTF8.self)
                    if text == LocalClient.relayedReply { needAsync = true }
                    // Legacy 4.8.1 mapping kept for callers that expect a JSON object.
                    direct = text == "There are no connected worker nodes" ? Array("{}".utf8) : message.payload
                case "err":
                    // process_response: the exception JSON, or plain text as error 3000.
                    throw WazuhException.parse(payload: message.payload)
                default:
                    throw LocalClientError.protocolViolation("reply command '\(message.name)' to '\(command)'")
                }
                waitingDirect = false
                let now = clock.now
                deadline = now + .seconds(client.asyncTimeout)
                nextKeepAlive = now + .seconds(client.keepAliveInterval)
            } else {
                try handleServerRequest(message)
            }
        }
    }

    /// Sends a request with the next counter and remembers it as outstanding.
    private mutating func sendRequest(command: String, payload: [UInt8]) throws -> UInt32 {
        counter &+= 1
        outstanding.insert(counter)
        try send(counter: counter, command: command, payload: payload)
        return counter
    }

    private func send(counter: UInt32, command: String, payload: [UInt8]) throws {
        let bytes = try MessageEncoder(fernet: nil).encode(counter: counter, command: command, payload: payload)
        try socket.send(bytes)
    }

    /// The next whole message, nil once the client's clock reaches `deadline`. End of stream throws: the
    /// result can no longer come.
    private mutating func nextMessage(until deadline: Duration, command: String) throws -> WireMessage? {
        while true {
            if let message = try takeBufferedMessage() { return message }
            guard let n = try socket.receive(appendingTo: &inbox, until: deadline, clock: client.clock) else { return nil }
            if n == 0 { throw LocalClientError.connectionClosed(command: command) }
        }
    }

    private mutating func takeBufferedMessage() throws -> WireMessage? {
        while true {
            let parsed: (frame: Frame, consumed: Int)?
            do {
                parsed = try inbox.withUnsafeBytes { raw throws(WireError) in try FrameParser.parse(raw) }
            } catch {
                throw LocalClientError.protocolViolation("\(error)")
            }
            guard let (frame, consumed) = parsed else { return nil }
            inbox.removeFirst(consumed)
            do throws(WireError) {
                if let message = try decoder.accept(frame) { return message }
            } catch {
                throw LocalClientError.protocolViolation(error.description)
            }
        }
    }

    /// Answers a server→client request (§1.5) and records a result when it carries one.
    private mutating func handleServerRequest(_ message: WireMessage) throws {
        // Decoded only by the commands that read it as text: a `str_upd` chunk can be megabytes.
        var text: String { String(decoding: message.payload, as: UTF8.self) }
        func reply(_ command: String, _ text: String) throws {
            try send(counter: message.counter, command: command, payload: Array(text.utf8))
        }
        func textResult() -> Result<[UInt8], any Error> {
            text.hasPrefix("Error") ? .failure(LocalClientError.remoteText(text)) : .success(message.payload)
        }
        switch message.name {
        case "new_str":
            guard let length = Int(text), length >= 0, length <= WireLimits.maxMessageSize else {
                try send(counter: message.counter, command: "err",
                         payload: WazuhException.internal(1000, "new_str: invalid string length '\(text)'").payload)
                return
            }
            var id: String
            repeat { id = String(UInt32.random(in: .min ... .max)) } while strings[id] != nil
            strings[id] = []
            strings[id]?.reserveCapacity(length)
            try reply("ok", id)
        case "str_upd":
            let space = message.payload.firstIndex(of: 0x20) ?? message.payload.endIndex
            let id = String(decoding: message.payload[..<space], as: UTF8.self)
            guard strings[id] != nil else {
                try send(counter: message.counter, command: "err", payload: WazuhException.cluster(3035, id).payload)
                return
            }
            if space < message.payload.endIndex { strings[id]!.append(contentsOf: message.payload[(space + 1)...]) }
            try reply("ok", "String updated")
        case "err_str":
            try reply("ok", "None")
        case "dapi_res", "send_f_res":
            if text.hasPrefix("Error") {
                asyncResult = .failure(LocalClientError.remoteText(text))
            } else if let string = strings.removeValue(forKey: text) {
                asyncResult = .success(string)
            } else {
                asyncResult = .failure(LocalClientError.remoteText("Error receiving string: ID \(text) not found."))
            }
            try reply("ok", "Distributed api response received")
        case "control_res":
            asyncResult = textResult()
            try reply("ok", "Response received")
        case "ok":
            asyncResult = textResult()
            try reply("ok", "Sendsync response received")
        case "dapi_err":
            asyncResult = .failure(LocalClient.remoteError(message.payload))
            try reply("ok", "Response received")
        case "err":
            asyncResult = .failure(LocalClient.remoteError(message.payload))
            try reply("ok", "Error response received")
        case "echo-m":
            try send(counter: message.counter, command: "ok-c", payload: message.payload)
        case "echo":
            try send(counter: message.counter, command: "ok", payload: message.payload)
        default:
            // The Python bytes repr of the command, as 4.8.1's Handler answers.
            try reply("err", "unknown command 'b'\(message.name)''")
        }
    }
}
