/// The Wazuh error catalogue (the `ERRORS` table of 4.8.1's exception module, as facts: code, message,
/// remediation): one table per area, each in its own file, looked up in order. A remediation is given
/// only where 4.8.1's text is known; the API then leaves it out.
public enum WazuhErrorCatalogue {
    public struct Entry: Sendable {
        public let message: String
        public let remediation: String?
        public init(_ message: String, _ remediation: String? = nil) {
            self.message = message
            self.remediation = remediation
        }
    }

    static let tables: [[Int: Entry]] = [generalCodes, agentCodes, managerCodes, rulesetCodes]

    static func entry(_ code: Int) -> Entry? {
        for t in tables { if let e = t[code] { return e } }
        return nil
    }

    public static func message(for code: Int) -> String {
        if let m = clusterMessage(code) { return m }
        return entry(code)?.message ?? (code >= 3000 && code < 4000 ? "Cluster error" : "Wazuh Internal Error")
    }

    public static func remediation(for code: Int) -> String? { entry(code)?.remediation }

    /// Codes outside the areas below (framework-wide and cluster remediations).
    static let generalCodes: [Int: Entry] = [
        1000: Entry("Wazuh Internal Error", "Please, check `WAZUH_HOME/logs/ossec.log`, `WAZUH_HOME/logs/cluster.log` and `WAZUH_HOME/logs/api.log` to get more information about the error"),
        1010: Entry("Unable to connect to queue"),
        1013: Entry("Unable to connect with socket"),
        1017: Entry("Some Wazuh daemons are not ready yet in node \"{node_name}\" ({not_ready_daemons})"),
        1724: Entry("Not a valid select field"),
        2007: Entry("Error retrieving data from Wazuh DB"),
        2008: Entry("Corrupted database"),
        1728: Entry("Invalid node type"),
        1730: Entry("Node does not exist", "Make sure the name is correct and that the node is up. You can check it using `cluster_control -l` (https://documentation.wazuh.com/4.8/user-manual/reference/tools/cluster_control.html#get-connected-nodes)"),
    ]
}
