/// One row of the `agent` table, as the daemon, authd and the tools read it.
public struct AgentRecord: Sendable, Equatable {
    public var id: Int
    public var name: String
    /// The address the agent last connected from (NULL until it connects).
    public var ip: String?
    /// The address given at registration (`any` when the agent may connect from anywhere).
    public var registerIP: String?
    /// The agent key (`internal_key`).
    public var key: String?
    /// Group names in priority order (the `group` CSV column).
    public var groups: [String]
    public var groupHash: String?
    public var groupSyncStatus: String
    public var syncStatus: String
    public var nodeName: String
    public var connectionStatus: String
    public var disconnectionTime: Int?
    public var version: String?
    public var lastKeepalive: Int?
    public var dateAdd: Int
    public var osName: String?
    public var osVersion: String?
    public var osPlatform: String?
    public var osArch: String?
    public var managerHost: String?

    public init(id: Int, name: String, ip: String? = nil, registerIP: String? = nil, key: String? = nil,
                groups: [String] = [], groupHash: String? = nil, groupSyncStatus: String = "synced",
                syncStatus: String = "synced", nodeName: String = "unknown", connectionStatus: String = "never_connected",
                disconnectionTime: Int? = 0, version: String? = nil, lastKeepalive: Int? = nil, dateAdd: Int = 0,
                osName: String? = nil, osVersion: String? = nil, osPlatform: String? = nil, osArch: String? = nil,
                managerHost: String? = nil)
    {
        self.id = id
        self.name = name
        self.ip = ip
        self.registerIP = registerIP
        self.key = key
        self.groups = groups
        self.groupHash = groupHash
        self.groupSyncStatus = groupSyncStatus
        self.syncStatus = syncStatus
        self.nodeName = nodeName
        self.connectionStatus = connectionStatus
        self.disconnectionTime = disconnectionTime
        self.version = version
        self.lastKeepalive = lastKeepalive
        self.dateAdd = dateAdd
        self.osName = osName
        self.osVersion = osVersion
        self.osPlatform = osPlatform
        self.osArch = osArch
        self.managerHost = managerHost
    }

    /// The address the framework shows (`coalesce(ip, register_ip)`).
    public var displayIP: String? { ip ?? registerIP }

    /// The id as Wazuh prints it, zero-padded to 3 digits.
    public var paddedID: String { ClientKeys.paddedID(id) }

    /// The SELECT list `init(row:)` reads, in order.
    static let columnList = [
        "id", "name", "ip", "register_ip", "internal_key", "`group`", "group_hash", "group_sync_status", "sync_status",
        "node_name", "connection_status", "disconnection_time", "version", "last_keepalive", "date_add", "os_name",
        "os_version", "os_platform", "os_arch", "manager_host",
    ]

    init<Row: AgentRow>(row s: Row) {
        self.init(
            id: s.int(0) ?? 0, name: s.text(1) ?? "", ip: s.text(2), registerIP: s.text(3), key: s.text(4),
            groups: s.text(5).map { $0.split(separator: ",").map(String.init) } ?? [], groupHash: s.text(6),
            groupSyncStatus: s.text(7) ?? "synced", syncStatus: s.text(8) ?? "synced", nodeName: s.text(9) ?? "unknown",
            connectionStatus: s.text(10) ?? "never_connected", disconnectionTime: s.int(11), version: s.text(12),
            lastKeepalive: s.int(13), dateAdd: s.int(14) ?? 0, osName: s.text(15), osVersion: s.text(16),
            osPlatform: s.text(17), osArch: s.text(18), managerHost: s.text(19))
    }
}
