import Common
import Foundation

/// The one distributed-API function clusterd serves: `Agent.get_agents_overview`, as `cluster_control -a`
/// calls it (LOCAL-DAPI-CONTROL.md §2.9). Other functions are refused with a clear error.
enum AgentsOverview {
    static func answer(_ requestJSON: [UInt8], store: AgentStore) -> Result<[UInt8], WazuhException> {
        guard let request = try? JSONParser.parse(requestJSON) else {
            return .failure(.internal(1000, "DAPI request is not JSON"))
        }
        let function = request["f"]?["__callable__"]?["__name__"]?.stringValue ?? "?"
        guard function == "get_agents_overview" else {
            return .failure(WazuhException(.error, code: 1000, extraMessage: "clusterd does not serve the API function '\(function)'"))
        }
        let filters = request["f_kwargs"]?["filters"]
        // 4.8.1 joins several values into one literal that matches nothing; each value is a filter here.
        func values(_ key: String) -> [String]? {
            guard let text = filters?[key]?.stringValue else { return nil }
            let list = text.split(separator: ",").map(String.init).filter { $0 != "all" }
            return list.isEmpty ? nil : list
        }
        let select = request["f_kwargs"]?["select"]?.arrayValue?.compactMap(\.stringValue) ?? ["id", "name", "ip", "status", "version", "node_name"]
        do {
            let agents = try store.agents(nodeNames: values("node_name"), statuses: values("status"))
            let items: [JSONValue] = agents.map { a in
                var o = JSONObject()
                for field in select {
                    switch field {
                    case "id": o["id"] = .string(String(format: "%03d", a.id))
                    case "name": o["name"] = .string(a.name)
                    case "ip": if let ip = a.ip ?? a.registerIP { o["ip"] = .string(ip) }
                    case "status": o["status"] = .string(a.connectionStatus)
                    case "version": if let v = a.version { o["version"] = .string(v) }
                    case "node_name": o["node_name"] = .string(a.nodeName)
                    default: break
                    }
                }
                return .object(o)
            }
            let result: JSONValue = ["__wazuh_result__": ["__class__": "WazuhResult", "__object__": [
                "str_priority": nil, "result": ["items": .array(items), "totalItems": .int(Int64(items.count))]]]]
            return .success(Array(result.pythonText.utf8))
        } catch {
            return .failure(.internal(1000, "\(error)"))
        }
    }
}
