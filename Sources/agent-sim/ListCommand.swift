import ArgumentParser
import Common
import Foundation

/// `agent-sim list`: what a node's own agent database holds, to see sync results on any node.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the agents in a node's agent database, with their groups and the global group hash.")

    @Option(name: .long, help: ArgumentHelp("Home directory of the node.", valueName: "NODE_HOME"))
    var home: String

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let store: AgentStore
        let hash: String?
        let agents: [AgentRecord]
        do {
            let config = try ClusterConfigLoader.load(home: home)
            store = try AgentStore.open(home: home, nodeName: config.nodeName)
            agents = try store.agents().filter { $0.id > 0 }
            hash = try store.globalGroupHash()
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        if json {
            let items: [JSONValue] = agents.map { a in
                .object(JSONObject([("id", .string(ClientKeys.paddedID(a.id))), ("name", .string(a.name)),
                                    ("groups", .array(a.groups.map { .string($0) })), ("node_name", .string(a.nodeName)),
                                    ("status", .string(a.connectionStatus))]))
            }
            printJSON([("agents", .array(items)), ("global_group_hash", hash.map { .string($0) } ?? .null)])
            return
        }
        let rows = agents.map { [ClientKeys.paddedID($0.id), $0.name, $0.groups.joined(separator: ","), $0.nodeName, $0.connectionStatus] }
        print(ControlOutput.table(headers: ["ID", "NAME", "GROUPS", "NODE NAME", "STATUS"], rows: rows), terminator: "")
        print("global group hash: \(hash ?? "none")")
    }
}
