import Common
import Foundation

/// The distributed-API entry the local server and the master's worker handler still call directly:
/// `Agent.get_agents_overview`, as `cluster_control -a` sends it (LOCAL-DAPI-CONTROL.md §2.9), answered
/// by its registry function (`DapiAgentListing.getAgentsOverview`). Other functions are refused with a
/// clear error.
enum AgentsOverview {
    static func answer(_ requestJSON: [UInt8], store: AgentStore) -> Result<[UInt8], WazuhException> {
        guard (try? JSONParser.parse(requestJSON)) != nil else {
            return .failure(.internal(1000, "DAPI request is not JSON"))
        }
        let request: DapiRequest
        switch DapiRequest.parse(requestJSON) {
        case .success(let r): request = r
        case .failure(let e): return .failure(e)
        }
        guard request.function.name == "get_agents_overview",
              case .blocking(let function)? = DapiRegistry.lookup(request.function) else {
            return .failure(WazuhException(.error, code: 1000, extraMessage: "clusterd does not serve the API function '\(request.function.name)'"))
        }
        guard let log = try? ClusterLog(path: nil, level: .info, mirrorToStderr: false) else {
            return .failure(.internal(1000, "cannot make a log for the distributed API call"))
        }
        let env = DapiEnvironment(nodeName: store.nodeName, isMaster: true, home: "", config: .defaults, options: .defaults,
                                  store: store, log: log, connectedNodes: { [] }, health: { _ in JSONValue.object(JSONObject()) },
                                  registration: nil)
        do {
            switch try function(DapiCall(request: request, env: env)) {
            case .exception(let e): return .failure(e)
            case let outcome: return .success(outcome.bytes)
            }
        } catch let e as WazuhException {
            return .failure(e)
        } catch {
            return .failure(.internal(1000, "\(error)"))
        }
    }
}
