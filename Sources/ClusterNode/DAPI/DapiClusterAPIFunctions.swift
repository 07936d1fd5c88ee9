import Common
import Foundation

/// Functions of clusterd's own REST front (`api.cluster_api`): state the master keeps for every node's
/// `cluster-api` under `etc/cluster-api/`, which the integrity task carries to the clusterd workers.
enum DapiClusterAPIFunctions {
    static let table: [DapiEntry] = [
        DapiEntry("api.cluster_api", "revoke_tokens", .blocking({ try revokeTokens($0) })),
        DapiEntry("api.cluster_api", "agents_by_node_and_status", .blocking({ try agentsByNodeAndStatus($0) })),
    ]

    /// For `/metrics` (`local_master`): `{"items": [{"node_name", "status", "count"}]}` from the master's
    /// agent database, agents other than the manager.
    static func agentsByNodeAndStatus(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        let rows: [(node: String, status: String, count: Int)]
        do { rows = try call.env.store.countsByNodeAndStatus() } catch { throw .internal(2008, "\(error)") }
        let items: [JSONValue] = rows.map { ["node_name": .string($0.node), "status": .string($0.status), "count": .int(Int64($0.count))] }
        return .result(WazuhResultValue(JSONObject([("items", .array(items))])))
    }

    /// `PUT /security/user/revoke` from any node (`local_master`): the master's `etc/cluster-api/revoked`
    /// stamp moves to now (never back), so every token issued before it is refused on every node once the
    /// stamp has been synced.
    static func revokeTokens(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        let dir = call.env.home + "/etc/cluster-api"
        let path = dir + "/revoked"
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard mkdir(dir, 0o700) == 0 || errno == EEXIST else { throw .internal(1000, "cannot create \(dir): \(String(cString: strerror(errno)))") }
        }
        let previous = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let stamp = max(Date().timeIntervalSince1970, previous)
        let temp = path + ".\(getpid()).tmp"
        let text = String(format: "%.6f\n", stamp)
        guard FileManager.default.createFile(atPath: temp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]),
              rename(temp, path) == 0 else {
            unlink(temp)
            throw .internal(1000, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        call.env.log.info(tag: "Master", subtag: "D API", "API tokens issued before \(text.trimmingCharacters(in: .newlines)) revoked.")
        return .result(WazuhResultValue(JSONObject([("message", "User tokens were successfully revoked")])))
    }
}
