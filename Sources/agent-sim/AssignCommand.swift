import ArgumentParser
import Common
import Foundation

/// `agent-sim assign`: agents into a group through a node's DAPI (`wazuh.agent.assign_agents_to_group`,
/// as the API's `PUT /agents/group/{group_id}` sends it), so their new groups reach the workers by
/// agent-groups sync.
struct AssignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: "Assign agents to a group through a node's DAPI (local socket).",
        discussion: "The group must exist (a directory etc/shared/<group> on the master). Prints the affected "
            + "and failed agents' counts; exit status 1 when the request failed or an agent could not be assigned.")

    @Option(name: .long, help: ArgumentHelp("Home directory of the node to send the request to.", valueName: "NODE_HOME"))
    var home: String

    @Option(name: .long, help: "The group.")
    var group: String

    @Option(name: .long, help: ArgumentHelp("Agent ids (comma-separated, e.g. 1,2 or 001,002).", valueName: "IDS"))
    var ids: String

    @Flag(name: .long, help: "Replace the agents' groups instead of adding this one.")
    var replace = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the answer.", valueName: "S"))
    var timeout = 60.0

    func validate() throws {
        let nameBytes = group.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
        }
        guard !group.isEmpty, group != ".", group != "..", group.utf8.count <= 128, nameBytes else {
            throw ValidationError("--group: \(group) is not a valid group name (letters, digits, '-', '_', '.')")
        }
        guard !agentList.isEmpty else { throw ValidationError("--ids: no agent id in \(ids)") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive (got \(timeout))") }
    }

    /// The ids as the DAPI takes them (`001`).
    var agentList: [String] {
        ids.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }.map(ClientKeys.paddedID)
    }

    func run() throws {
        let callable: JSONValue = ["__callable__": [
            "__name__": "assign_agents_to_group", "__module__": "wazuh.agent",
            "__qualname__": "assign_agents_to_group", "__type__": "function",
        ]]
        let request: JSONValue = [
            "f": callable,
            "f_kwargs": ["group_list": [.string(group)], "agent_list": .array(agentList.map { .string($0) }), "replace": .bool(replace)],
            "request_type": "local_master", "wait_for_complete": false, "from_cluster": false,
        ]
        let client = LocalClient(home: home, timeout: timeout, asyncTimeout: timeout)
        let answer: JSONValue
        do {
            answer = try ClusterControlRequests.decode(client.execute(command: "dapi", payload: Array(request.pythonText.utf8)))
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let result = answer["__wazuh_result__"]?["__object__"] ?? answer
        let affected = result["affected_items"]?.arrayValue?.count ?? 0
        let failed = Int(result["total_failed_items"]?.intValue ?? 0)
        print("assigned \(affected) agents to \(group), failed \(failed)")
        if failed > 0 || result["affected_items"] == nil {
            printError("answer: \(String(answer.pythonText.prefix(500)))")
            throw ExitCode(1)
        }
    }
}
