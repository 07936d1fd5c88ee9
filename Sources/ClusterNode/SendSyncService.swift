import Common
import Foundation

/// The master's SendSync queue (PROTOCOL.md §8.1, LOCAL-DAPI-CONTROL.md §1.7 F): a request
/// `{"daemon_name": ..., "message": ...}` from a worker's local daemon is answered by the master's
/// daemon. `authd` is served by the built-in registration service unless configured to use a real authd
/// socket; the other daemons are reached on their sockets with 4-byte little-endian length framing.
actor SendSyncService {
    let ctx: NodeContext
    let registration: RegistrationService?

    static let sockets = ["authd": "queue/sockets/auth", "remoted": "queue/sockets/remote",
                          "task-manager": "queue/tasks/task", "wazuh-db": "queue/db/wdb"]

    init(ctx: NodeContext, registration: RegistrationService?) {
        self.ctx = ctx
        self.registration = registration
    }

    /// Answers one request; the error is the Wazuh exception the worker forwards as `sendsyn_err`.
    func handle(_ payload: [UInt8], from origin: String) async -> Result<[UInt8], WazuhException> {
        let request: JSONValue
        do { request = try JSONParser.parse(payload) } catch {
            return .failure(.internal(1000, "Error in SendSync (parameters \(String(decoding: payload.prefix(200), as: UTF8.self))): \(error)"))
        }
        guard let daemon = request["daemon_name"]?.stringValue, let message = request["message"] else {
            return .failure(WazuhException(.error, code: 1000, extraMessage: "SendSync request needs daemon_name and message"))
        }
        ctx.log.debug(tag: "Master", subtag: "SendSync", "Receiving SendSync request (\(daemon)) from \(origin)")
        let text: [UInt8]
        if case .string(let s) = message { text = Array(s.utf8) } else { text = Array(message.pythonText.utf8) }
        if daemon == "authd", let registration, !usesAuthdSocket {
            return .success(Array(await registration.handle(text).utf8))
        }
        guard let relative = Self.sockets[daemon] else {
            let e = WazuhException.internal(1014, "unknown daemon '\(daemon)'")
            ctx.log.error(tag: "Master", subtag: "SendSync", "Error in SendSync (parameters \(daemon)): \(e)")
            return .failure(e)
        }
        let path = ctx.home + "/" + relative
        let result: Result<[UInt8], WazuhException>
        switch await ctx.pool.result({ Self.exchange(path: path, message: text, timeout: 20) }) {
        case .success(let answer): result = answer
        case .failure(let error): result = .failure(.internal(1014, "\(path): \(error)"))
        }
        if case .failure(let e) = result {
            ctx.log.error(tag: "Master", subtag: "SendSync", "Error in SendSync (parameters \(daemon)): \(e)")
        }
        return result
    }

    /// An authd JSON request from the node itself (the DAPI's add_agent / delete_agents): where a worker's
    /// registrations go, with authd's own error shape when its socket cannot be reached.
    func authd(_ text: [UInt8]) async -> String {
        if let registration, !usesAuthdSocket { return await registration.handle(text) }
        let path = ctx.home + "/" + Self.sockets["authd"]!
        switch await ctx.pool.result({ Self.exchange(path: path, message: text, timeout: 20) }) {
        case .success(.success(let answer)): return String(decoding: answer, as: UTF8.self)
        case .success(.failure(let e)): return RegistrationService.reply(error: 9001, "Cannot communicate with authd: \(e)")
        case .failure(let e): return RegistrationService.reply(error: 9001, "Cannot communicate with authd: \(e)")
        }
    }

    /// Whether registrations go to authd's socket: as configured, else when that socket exists (a Wazuh
    /// manager's authd is running), checked per request so an authd started later is used.
    var usesAuthdSocket: Bool {
        ctx.options.registrationUsesAuthdSocket ?? FileManager.default.fileExists(atPath: ctx.home + "/" + Self.sockets["authd"]!)
    }

    /// One length-prefixed request and response on a daemon's Unix socket.
    static func exchange(path: String, message: [UInt8], timeout: Double) -> Result<[UInt8], WazuhException> {
        do {
            let socket = try UnixSocket(connectingTo: path)
            defer { socket.closeSocket() }
            var n = UInt32(message.count).littleEndian
            try socket.send(withUnsafeBytes(of: &n) { Array($0) } + message)
            let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
            var buffer: [UInt8] = []
            while true {
                if buffer.count >= 4 {
                    let length = Int(UInt32(buffer[0]) | UInt32(buffer[1]) << 8 | UInt32(buffer[2]) << 16 | UInt32(buffer[3]) << 24)
                    if buffer.count >= 4 + length { return .success(Array(buffer[4..<(4 + length)])) }
                }
                guard let more = try socket.receive(until: deadline) else {
                    return .failure(.internal(1014, "\(path): connection closed before a complete response"))
                }
                buffer += more
            }
        } catch {
            return .failure(.internal(1014, "\(path): \(error)"))
        }
    }
}
