import ArgumentParser
import Common
import Foundation

/// `agent-sim`: stands in for Wazuh agents so a cluster of clusterd nodes can be exercised without them.
struct AgentSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-sim",
        abstract: "Register simulated agents through a node and record their keep-alives in its agent database.",
        discussion: """
            register sends authd "add" requests through the node's local cluster socket, as a worker's authd \
            does when an agent enrolls there. keepalive writes what a manager's remoted records when agents \
            report in, so agent-info sync has rows to carry. Exit status: 0 success, 1 any failure. \
            See agent-sim(1).
            """,
        version: "0.1.0",
        subcommands: [RegisterCommand.self, KeepaliveCommand.self, AssignCommand.self, ListCommand.self])
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data(("agent-sim: " + message + "\n").utf8))
}

/// Prints a JSON summary the way the other tools do (Python `json.dumps` text).
func printJSON(_ pairs: [(String, JSONValue)]) {
    print(JSONValue.object(JSONObject(pairs)).pythonText)
}

/// Seconds rounded to milliseconds, and a rate that stays finite for instant runs.
func timing(_ elapsed: Duration, count: Int) -> (seconds: Double, perSecond: Double) {
    let seconds = secondsIn(elapsed)
    let perSecond = seconds > 0 ? Double(count) / seconds : Double(count)
    return ((seconds * 1000).rounded() / 1000, (perSecond * 10).rounded() / 10)
}

func secondsIn(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
