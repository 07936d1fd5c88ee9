import ArgumentParser
import Common
import Foundation
import Synchronization

/// `agent-sim register`: N authd "add" requests through the node's local socket (LOCAL-DAPI-CONTROL.md §5.1).
struct RegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register N agents through a node's local socket (sendsync to authd).")

    @Option(name: .long, help: ArgumentHelp("Home directory of the node to register through.", valueName: "NODE_HOME"))
    var home: String

    @Option(name: [.customShort("n"), .long], help: "Number of agents to register.")
    var count: Int

    @Option(name: .long, help: ArgumentHelp("Groups for the new agents (comma-separated, as authd takes them).",
                                            valueName: "G"))
    var group: String?

    @Option(name: .long, help: ArgumentHelp("Agent name prefix; names are <prefix><5-digit number>. "
                                                + "Default: sim-<4 random hex digits>- so reruns do not collide.",
                                            valueName: "NAME"))
    var prefix: String?

    @Option(name: .long, help: "Number of the first agent name.")
    var start = 1

    @Option(name: .long, help: "Requests in flight at once.")
    var concurrency = 4

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each answer.", valueName: "S"))
    var timeout = 60.0

    @Flag(name: .long, help: "Print a JSON summary instead of one line per agent.")
    var json = false

    func validate() throws {
        guard count > 0 else { throw ValidationError("-n must be at least 1 (got \(count))") }
        guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1 (got \(concurrency))") }
        guard start >= 0 else { throw ValidationError("--start must not be negative (got \(start))") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive (got \(timeout))") }
    }

    func run() throws {
        let namePrefix = prefix ?? "sim-\(String(UInt16.random(in: .min ... .max), radix: 16))-"
        let names = (0..<count).map { namePrefix + String(format: "%05d", start + $0) }
        let client = LocalClient(home: home, timeout: timeout, asyncTimeout: timeout)
        let next = Mutex(0)
        let outcomes = Mutex([AuthdReply?](repeating: nil, count: count))
        let quiet = json
        let clock = ContinuousClock()
        let began = clock.now
        DispatchQueue.concurrentPerform(iterations: min(concurrency, count)) { _ in
            while true {
                let i = next.withLock { n in defer { n += 1 }; return n }
                guard i < names.count else { return }
                let reply = AuthdReply.request(client: client, name: names[i], groups: group)
                if !quiet { reply.printLine(name: names[i]) }
                outcomes.withLock { $0[i] = reply }
            }
        }
        let results = outcomes.withLock { $0.compactMap { $0 } }
        let failures = results.compactMap(\.failure)
        let (seconds, perSecond) = timing(clock.now - began, count: results.count - failures.count)
        if json {
            printJSON([("registered", .int(Int64(results.count - failures.count))), ("failed", .int(Int64(failures.count))),
                       ("errors", .array(failures.map { .string($0) })), ("seconds", .double(seconds)),
                       ("per_second", .double(perSecond))])
        } else {
            print("registered \(results.count - failures.count), failed \(failures.count) in \(seconds) s (\(perSecond)/s)")
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}

/// The outcome of one registration.
enum AuthdReply: Sendable {
    case registered(id: String, name: String, ip: String, key: String)
    case failed(name: String, message: String)

    var failure: String? {
        if case .failed(let name, let message) = self { return "\(name): \(message)" }
        return nil
    }

    /// The request a worker's authd sends for an enrollment (key order of §5.1 step 2; no "force").
    static func payload(name: String, groups: String?) -> String {
        var arguments = JSONObject([("name", .string(name)), ("ip", "any")])
        if let groups { arguments["groups"] = .string(groups) }
        return JSONValue.object(JSONObject([
            ("daemon_name", "authd"),
            ("message", .object(JSONObject([("arguments", .object(arguments)), ("function", "add")]))),
        ])).compactText
    }

    static func request(client: LocalClient, name: String, groups: String?) -> AuthdReply {
        let text: String
        do {
            text = try client.execute(command: "sendsync", text: payload(name: name, groups: groups))
        } catch {
            return .failed(name: name, message: "\(error)")
        }
        return parse(text, name: name)
    }

    /// authd's answer: `{"error":0,"data":{"id","name","ip","key"}}` or `{"error":N,"message":"…"}`.
    static func parse(_ text: String, name: String) -> AuthdReply {
        guard let reply = try? JSONParser.parse(text), let code = reply["error"]?.intValue else {
            return .failed(name: name, message: "unexpected answer from authd: \(text.prefix(200))")
        }
        guard code == 0 else {
            return .failed(name: name, message: "authd error \(code): \(reply["message"]?.stringValue ?? "(no message)")")
        }
        guard let data = reply["data"], let id = data["id"]?.stringValue, let key = data["key"]?.stringValue else {
            return .failed(name: name, message: "authd answer without data.id/data.key: \(text.prefix(200))")
        }
        return .registered(id: id, name: data["name"]?.stringValue ?? name, ip: data["ip"]?.stringValue ?? "any", key: key)
    }

    func printLine(name: String) {
        switch self {
        case .registered(let id, let agentName, let ip, _): print("\(id) \(agentName) \(ip)")
        case .failed(_, let message): printError("\(name): \(message)")
        }
    }
}
