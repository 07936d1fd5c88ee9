import Common
import Foundation

/// The `wazuh.agent` functions clusterd answers natively, and `wazuh.core.agent.Agent.get_agents_overview`
/// (what `cluster_control -a` calls).
enum DapiAgentFunctions {
    static func blocking(_ f: @escaping @Sendable (DapiCall) throws(WazuhException) -> DapiOutcome) -> DapiFunction {
        .blocking { call in try f(call) }
    }

    static func async(_ f: @escaping @Sendable (DapiCall) async throws(WazuhException) -> DapiOutcome) -> DapiFunction {
        .async { call in try await f(call) }
    }

    static let table: [DapiEntry] = [
        DapiEntry("wazuh.agent", "get_agents", blocking(DapiAgentListing.getAgents)),
        DapiEntry("wazuh.agent", "get_agents_in_group", blocking(DapiAgentListing.getAgentsInGroup)),
        DapiEntry("wazuh.agent", "get_agents_summary_status", blocking(DapiAgentListing.getAgentsSummaryStatus)),
        DapiEntry("wazuh.agent", "get_agents_keys", blocking(DapiAgentListing.getAgentsKeys)),
        DapiEntry("wazuh.agent", "get_agent_groups", blocking(DapiAgentGroups.getAgentGroups)),
        DapiEntry("wazuh.agent", "create_group", blocking(DapiAgentGroups.createGroup)),
        DapiEntry("wazuh.agent", "delete_groups", blocking(DapiAgentGroups.deleteGroups)),
        DapiEntry("wazuh.agent", "assign_agents_to_group", blocking(DapiAgentGroups.assignAgentsToGroup)),
        DapiEntry("wazuh.agent", "remove_agent_from_groups", blocking(DapiAgentGroups.removeAgentFromGroups)),
        DapiEntry("wazuh.agent", "remove_agents_from_group", blocking(DapiAgentGroups.removeAgentsFromGroup)),
        DapiEntry("wazuh.agent", "delete_agents", async(DapiAgentRegistration.deleteAgents)),
        DapiEntry("wazuh.agent", "add_agent", async(DapiAgentRegistration.addAgent)),
        DapiEntry("wazuh.core.agent", "Agent.get_agents_overview", blocking(DapiAgentListing.getAgentsOverview)),
    ]
}
