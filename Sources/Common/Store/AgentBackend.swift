import Foundation

/// What a node needs of its agent database: wazuh-db's global commands the cluster sends (agent-info,
/// agent-groups), the writes of registration and of the distributed API's agent and group functions, and
/// the reads of the DAPI and the health output. Two implementations: `AgentStore`, the embedded SQLite
/// store (a standalone home), and `WazuhDBBackend`, wazuh-db over `queue/db/wdb` (a Wazuh manager, where
/// wazuh-db owns `global.db`). Which one a node uses is `AgentBackendChoice`'s decision.
public protocol AgentBackend: AnyObject, Sendable {
    /// How the start-up log names the backend, e.g. "embedded SQLite store <path>".
    var backendDescription: String { get }
    /// False when wazuh-db's other clients (wazuh-modulesd) keep the table in step with `client.keys`
    /// themselves, so the node must not.
    var syncsClientKeys: Bool { get }

    // wazuh-db's global sync commands (PROTOCOL.md §6, §7)
    func syncAgentInfoGet(maxResponseBytes: Int, deliver: (_ status: String, _ payload: String) -> Void) throws(StoreError)
    func syncAgentInfoSet(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int)
    func syncAgentGroupsGet(condition: GroupsCondition?, setSynced: Bool, getGlobalHash: Bool, lastID: Int,
                            maxResponseBytes: Int) throws(StoreError) -> (status: String, payload: String)
    func setAgentGroups(_ json: String) throws(StoreError) -> Int
    /// `setAgentGroups` of `{"mode": "override", "sync_status": syncStatus, "data": data}`, `data` parsed.
    func overrideAgentGroups(data: JSONValue, syncStatus: String) throws(StoreError) -> Int
    func recalculateAgentGroupHashes() throws(StoreError)
    func globalGroupHash() throws(StoreError) -> String?
    /// After an agent-info round: lets the embedded store fold its write-ahead log back.
    func checkpoint() throws(StoreError)
    func loadClientKeys(_ entries: [(id: Int, name: String, ip: String, key: String)]) throws(StoreError) -> (inserted: Int, deleted: Int)

    // Registration and the DAPI's writes
    func insertAgent(id: Int, name: String, ip: String, key: String, groups: [String], groupSyncStatus: String,
                     dateAdd: Int) throws(StoreError)
    func deleteAgent(id: Int) throws(StoreError)
    func nextFreeID() throws(StoreError) -> Int
    func createGroup(_ name: String) throws(StoreError)
    @discardableResult func deleteGroup(_ name: String) throws(StoreError) -> [Int]
    @discardableResult func setGroups(agent id: Int, _ groups: [String]) throws(StoreError) -> Bool
    func updateGroups(agents ids: [Int], _ groupsFor: (Int, [String]) -> [String]?) throws(StoreError) -> [Int]

    // Reads
    func agent(id: Int) throws(StoreError) -> AgentRecord?
    func agents(nodeNames: [String]?, statuses: [String]?) throws(StoreError) -> [AgentRecord]
    func countActive(nodeName: String) throws(StoreError) -> Int
    func listAgents(_ query: CompiledAgentQuery) throws(StoreError) -> AgentListing
    func existingIDs(_ ids: [Int]) throws(StoreError) -> Set<Int>
    func summaryCounts() throws(StoreError) -> (connection: [String: Int], configuration: [String: Int])
    func agentNodes(ids: [Int]?, nodeNames: [String]?) throws(StoreError) -> [(id: Int, node: String)]
    func agentNodeNames() throws(StoreError) -> [String]
    func countsByNodeAndStatus() throws(StoreError) -> [(node: String, status: String, count: Int)]
    func groupCounts() throws(StoreError) -> [String: Int]
    func groups(ofAgents ids: [Int]) throws(StoreError) -> [Int: [String]]
}

extension AgentBackend {
    /// wazuh-db's response ceiling for the sync commands' pages.
    public static var defaultResponseBytes: Int { 6_291_456 }

    public func syncAgentInfoGet(deliver: (_ status: String, _ payload: String) -> Void) throws(StoreError) {
        try syncAgentInfoGet(maxResponseBytes: Self.defaultResponseBytes, deliver: deliver)
    }

    public func syncAgentGroupsGet(condition: GroupsCondition?, setSynced: Bool, getGlobalHash: Bool,
                                   lastID: Int = 0) throws(StoreError) -> (status: String, payload: String) {
        try syncAgentGroupsGet(condition: condition, setSynced: setSynced, getGlobalHash: getGlobalHash, lastID: lastID,
                               maxResponseBytes: Self.defaultResponseBytes)
    }

    public func agents() throws(StoreError) -> [AgentRecord] { try agents(nodeNames: nil, statuses: nil) }
    public func agentNodes() throws(StoreError) -> [(id: Int, node: String)] { try agentNodes(ids: nil, nodeNames: nil) }
}

extension AgentStore: AgentBackend {
    public var backendDescription: String { "embedded SQLite store \(path)" }
    public var syncsClientKeys: Bool { true }
}

/// Which agent database a node home gets (`agent_database.backend` in the internal options).
public enum AgentBackendChoice {
    /// The backend and the reason it was chosen, for the start-up log.
    public static func open(home: String, nodeName: String, choice: InternalOptions.AgentDatabase)
        throws(StoreError) -> (backend: any AgentBackend, reason: String)
    {
        let socket = WazuhDBClient.socketPath(home: home)
        let fm = FileManager.default
        switch choice {
        case .embedded:
            return (try AgentStore.open(home: home, nodeName: nodeName), "agent_database.backend is \"embedded\"")
        case .wazuhDB:
            return (WazuhDBBackend(client: WazuhDBClient(path: socket), nodeName: nodeName), "agent_database.backend is \"wazuh-db\"")
        case .auto:
            if fm.fileExists(atPath: socket) {
                return (WazuhDBBackend(client: WazuhDBClient(path: socket), nodeName: nodeName), "\(socket) exists")
            }
            // wazuh-control starts the cluster daemon before wazuh-db: the binary tells a manager's home.
            if fm.isExecutableFile(atPath: home + "/bin/wazuh-db") {
                return (WazuhDBBackend(client: WazuhDBClient(path: socket), nodeName: nodeName), "\(home)/bin/wazuh-db is installed")
            }
            return (try AgentStore.open(home: home, nodeName: nodeName), "no wazuh-db in \(home)")
        }
    }
}
