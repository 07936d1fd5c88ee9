import ArgumentParser
import Common
import Foundation

/// `agent-sim keepalive`: what a manager's remoted writes when agents report in (LOCAL-DAPI-CONTROL.md §6).
struct KeepaliveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalive",
        abstract: "Record keep-alives of the node's agents in its agent database.",
        discussion: """
            Every agent with id > 0 in NODE_HOME/queue/db/global.db reports to this node: connection status \
            active, node_name = this node, version "Wazuh v4.8.1", an Ubuntu 22.04 OS. On a worker the rows \
            are marked for agent-info sync (sync_status syncreq); on the master they are already in place \
            (synced).
            """)

    @Option(name: .long, help: ArgumentHelp("Home directory of the node the agents report to.", valueName: "NODE_HOME"))
    var home: String

    @Option(name: .long, help: ArgumentHelp("Keep-alives per second (default: as fast as possible).", valueName: "R"))
    var rate: Double?

    @Option(name: .long, help: ArgumentHelp("Keep going for S seconds, cycling through the agents "
                                                + "(default: every agent once).", valueName: "S"))
    var duration: Double?

    @Option(name: .long, help: ArgumentHelp("Only the agents with these ids report (comma-separated, e.g. 1,2 or 001,002; "
                                                + "default: every agent).", valueName: "IDS"))
    var ids: String?

    @Flag(name: .long, help: "Print a JSON summary.")
    var json = false

    /// The ids of `--ids`, nil when every agent reports.
    var selectedIDs: Set<Int>? {
        ids.map { Set($0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }) }
    }

    func validate() throws {
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive (got \(rate))") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive (got \(duration))") }
        if let ids {
            for part in ids.split(separator: ",", omittingEmptySubsequences: false) {
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)), id > 0 else {
                    throw ValidationError("--ids must list agent ids greater than 0, separated by commas (got '\(part)')")
                }
            }
        }
    }

    func run() throws {
        let config: ClusterConfig
        let store: AgentStore
        do {
            config = try ClusterConfigLoader.load(home: home)
            store = try AgentStore.open(home: home, nodeName: config.nodeName)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let selected = selectedIDs
        let agents = try store.agents().filter { $0.id > 0 && (selected?.contains($0.id) ?? true) }
        guard !agents.isEmpty else {
            printError(selected == nil ? "no agents registered in \(store.path)" : "none of the agents \(ids ?? "") is registered in \(store.path)")
            throw ExitCode(1)
        }
        let syncStatus = config.nodeType == .worker ? "syncreq" : "synced"
        let host = ProcessInfo.processInfo.hostName
        let clock = ContinuousClock()
        let began = clock.now
        let deadline = duration.map { began + .milliseconds(Int64($0 * 1000)) }
        var sent = 0
        var failures: [String] = []
        while deadline.map({ clock.now < $0 }) ?? (sent < agents.count) {
            if let rate {
                // Pace against the start time so a slow write does not lower the average rate.
                let due = began + .microseconds(Int64(Double(sent) / rate * 1_000_000))
                let wait = secondsIn(due - clock.now)
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                if let deadline, clock.now >= deadline { break }
            }
            let agent = agents[sent % agents.count]
            do {
                try store.recordKeepalive(id: agent.id, nodeName: config.nodeName, connectionStatus: "active",
                                          os: SimulatedOS.fields(for: agent, managerHost: host), version: "Wazuh v4.8.1",
                                          lastKeepalive: Int(Date().timeIntervalSince1970), syncStatus: syncStatus)
            } catch {
                failures.append("\(agent.paddedID): \(error)")
            }
            sent += 1
        }
        let (seconds, perSecond) = timing(clock.now - began, count: sent)
        if json {
            printJSON([("node", .string(config.nodeName)), ("agents", .int(Int64(min(sent, agents.count)))),
                       ("keepalives", .int(Int64(sent - failures.count))), ("failed", .int(Int64(failures.count))),
                       ("errors", .array(failures.prefix(100).map { .string($0) })), ("sync_status", .string(syncStatus)),
                       ("seconds", .double(seconds)), ("per_second", .double(perSecond))])
        } else {
            for f in failures.prefix(20) { printError(f) }
            print("\(sent - failures.count) keep-alives for \(min(sent, agents.count)) agents on \(config.nodeName) "
                  + "in \(seconds) s (\(perSecond)/s), \(failures.count) failed")
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}

/// The OS an agent-sim agent reports: an Ubuntu 22.04 host, as most test fleets run.
enum SimulatedOS {
    static func fields(for agent: AgentRecord, managerHost: String) -> [String: String] {
        [
            "os_name": "Ubuntu", "os_version": "22.04.4 LTS", "os_major": "22", "os_minor": "04",
            "os_codename": "jammy", "os_build": "", "os_platform": "ubuntu", "os_arch": "x86_64",
            "os_uname": "Linux |\(agent.name) |5.15.0-105-generic |#115-Ubuntu SMP |x86_64",
            "ip": address(of: agent), "manager_host": managerHost,
            "config_sum": "5f0c3a4e9d1b2c7a8e6f4d3c2b1a0918", "merged_sum": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        ]
    }

    /// The registered address when it is one, else a stable 10.x.y.z derived from the id.
    static func address(of agent: AgentRecord) -> String {
        if let ip = agent.registerIP, ip != "any", !ip.isEmpty { return ip }
        return "10.\(agent.id >> 16 & 255).\(agent.id >> 8 & 255).\(agent.id & 255)"
    }
}
