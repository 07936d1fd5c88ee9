import Common
import Foundation

/// One run of `cluster_control` (LOCAL-DAPI-CONTROL.md §2.10): checks, one request to the local daemon,
/// the 4.8.1 text (or JSON) on stdout, `ERROR: …` on stderr. Returns the exit status.
struct ControlTool {
    let arguments: [String]
    let environment: [String: String]
    var program = "cluster_control"

    static let defaultHome = "/var/ossec"

    func run() -> Int32 {
        let args: ControlArguments
        do {
            args = try ControlArguments.parse(arguments)
        } catch {
            writeError("\(HelpText.synopsis)\n\(program): error: \(error)\n")
            return 2
        }
        if args.help { write(HelpText.help); return 0 }
        if args.action == .usage { write(HelpText.usage(program: program)); return 0 }

        let home = args.home ?? environment["CLUSTERD_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultHome
        let debug = args.debug > 0
        if debug { writeError("DEBUG: home \(home)\n") }

        // 4.8.1 order: daemon status, configuration, argument consistency, then the action.
        guard DaemonStatus.isRunning(home: home) else {
            if debug { writeError("DEBUG: no live wazuh-clusterd-<pid>.pid in \(home)/var/run\n") }
            writeError("ERROR: Cluster is not running.\n")
            return 1
        }
        let config: ClusterConfig
        do {
            config = try ClusterConfigLoader.load(home: home)
        } catch {
            writeError("ERROR: \(error)\n")
            return 1
        }
        if config.disabled {
            if debug { writeError("DEBUG: the cluster is disabled in \(home)/etc/ossec.conf\n") }
            writeError("ERROR: Cluster is not running.\n")
            return 1
        }
        if args.filterStatus != nil && args.action != .listAgents {
            writeError("ERROR: Wrong arguments.\n" + HelpText.usage(program: program))
            return 1
        }
        guard let action = args.action else { write(HelpText.help); return 0 }

        let client = LocalClient(home: home)
        do {
            write(try perform(action, args: args, client: client, clusterName: config.name, debug: debug))
            return 0
        } catch {
            writeError("ERROR: \(error)\n")
            return 1
        }
    }

    /// Runs the action and returns what to print.
    func perform(_ action: ControlArguments.Action, args: ControlArguments, client: LocalClient, clusterName: String,
                 debug: Bool) throws -> String {
        let traced = TracingClient(client: client, trace: debug ? { writeError("DEBUG: \($0)\n") } : nil)
        switch action {
        case .listNodes:
            let nodes = try ClusterControlRequests.decode(traced.execute("get_nodes", ClusterControlRequests.nodesPayload(filterNode: args.filterNode)))
            return args.json ? nodes.pythonText + "\n" : ControlOutput.nodesTable(items: nodes["items"]?.arrayValue ?? [])
        case .health(let more):
            var names = args.filterNode
            if names == nil {
                let nodes = try ClusterControlRequests.decode(traced.execute("get_nodes", ClusterControlRequests.nodesPayload(filterNode: nil)))
                names = ClusterControlRequests.nodeNames(nodes)
            }
            let health = try ClusterControlRequests.decode(traced.execute("get_health", ClusterControlRequests.healthPayload(filterNode: names)))
            return args.json ? health.pythonText + "\n" : ControlOutput.health(clusterName: clusterName, health: health, more: more)
        case .listAgents:
            let payload = ClusterControlRequests.agentsPayload(filterNode: args.filterNode, filterStatus: args.filterStatus)
            let agents = try ClusterControlRequests.agentsResult(ClusterControlRequests.decode(traced.execute("dapi", payload)))
            return args.json ? agents.pythonText + "\n" : ControlOutput.agentsTable(items: agents["items"]?.arrayValue ?? [])
        case .usage:
            return HelpText.usage(program: program)
        }
    }

    func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// `LocalClient` with `-d` tracing of each request and its result.
struct TracingClient {
    let client: LocalClient
    let trace: ((String) -> Void)?

    func execute(_ command: String, _ payload: [UInt8]) throws -> [UInt8] {
        trace?("sending \(command) to \(client.socketPath): \(String(decoding: payload, as: UTF8.self))")
        do {
            let reply = try client.execute(command: command, payload: payload)
            trace?("result of \(command): \(String(decoding: reply, as: UTF8.self))")
            return reply
        } catch {
            trace?("\(command) failed: \(error)")
            throw error
        }
    }
}
