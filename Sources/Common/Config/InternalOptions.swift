import Foundation

/// The `intervals` of 4.8.1's `cluster.json` (LOCAL-DAPI-CONTROL.md §3.2, PROTOCOL.md §11): periods and
/// timeouts in seconds, counts and sizes as integers. Not user configuration in Wazuh; here a JSON file of
/// the same shape may override any subset, so tests can run with sub-second intervals.
public struct InternalOptions: Sendable, Equatable {
    // intervals.worker
    public var syncIntegrity: Double = 9
    public var syncAgentInfo: Double = 10
    /// Unused by 4.8.1 (kept so a cluster.json copy loads).
    public var syncAgentGroupsWorker: Double = 30
    public var timeoutAgentGroups: Double = 40
    public var keepAlive: Double = 60
    public var connectionRetry: Double = 10
    public var maxFailedKeepaliveAttempts: Int = 2
    public var agentGroupsMismatchLimit: Int = 5
    // intervals.master
    /// Threads of the CPU pool; 4.8.1 defaults to 2 processes, here the core count (threads, no GIL).
    public var processPoolSize: Int {
        get { processPoolSizeSet ?? ProcessInfo.processInfo.activeProcessorCount }
        set { processPoolSizeSet = newValue }
    }
    /// `process_pool_size` when set (nil: the default), for what 4.8.1 sizes with it: the framework
    /// bridge's executors take 4.8.1's default of 2 unless it is set.
    public private(set) var processPoolSizeSet: Int?
    public var syncAgentGroupsMaster: Double = 10
    public var timeoutExtraValid: Double = 40
    public var recalculateIntegrity: Double = 8
    public var timeoutAgentInfo: Double = 40
    public var agentGroupStartDelay: Double = 30
    public var checkWorkerLastKeepalive: Double = 60
    public var maxAllowedTimeWithoutKeepalive: Double = 120
    public var maxLockedIntegrityTime: Double = 1000
    // intervals.communication
    public var timeoutClusterRequest: Double = 20
    public var timeoutDapiRequest: Double = 200
    public var timeoutReceivingFile: Double = 120
    public var maxZipSize: Int = 1_073_741_824
    public var minZipSize: Int = 31_457_280
    public var compressLevel: Int = 1
    /// Fraction by which the zip size limit shrinks or grows.
    public var zipLimitTolerance: Double = 0.2

    public init() {}

    /// clusterd's own option (not in Wazuh's cluster.json): send agent registrations (`sendsync` to
    /// `authd`) to a real authd at `queue/sockets/auth` (true) or to the master's built-in service (false).
    /// nil, the default: authd when that socket exists, as on a Wazuh manager.
    /// Set with `{"registration": {"use_authd_socket": true}}` in the override file.
    public var registrationUsesAuthdSocket: Bool?

    /// clusterd's own bound (not in Wazuh): connections the master accepts from one address at once; more
    /// are refused with a warning. 10 by default, which is plenty across real hosts; a test cluster of many
    /// workers on one address needs more. `{"limits": {"connections_per_address": N}}`, 1…65535.
    public var connectionsPerAddress: Int = 10

    /// Which agent database the node uses (`{"agent_database": {"backend": "auto" | "embedded" | "wazuh-db"}}`).
    public enum AgentDatabase: String, Sendable, CaseIterable {
        /// wazuh-db when the home is a Wazuh manager's (`queue/db/wdb` or `bin/wazuh-db` exists), else embedded.
        case auto
        /// The embedded SQLite store at `queue/db/global.db`.
        case embedded
        /// wazuh-db over `queue/db/wdb`.
        case wazuhDB = "wazuh-db"
    }
    public var agentDatabase: AgentDatabase = .auto

    /// Where the node's Wazuh framework is (the `framework` section; see `FrameworkOptions`).
    public var framework = FrameworkOptions()

    /// The 4.8.1 values.

    public static let defaults = InternalOptions()

    /// Environment variable naming an override file (takes precedence over `<home>/etc/cluster-internal.json`).
    public static let environmentVariable = "CLUSTERD_INTERNAL_OPTIONS"

    /// The daemon's convention: the file named by `CLUSTERD_INTERNAL_OPTIONS` if set (it must exist), else
    /// `<home>/etc/cluster-internal.json` if it exists, else the defaults.
    public static func load(home: String) throws -> InternalOptions {
        if let path = ProcessInfo.processInfo.environment[environmentVariable], !path.isEmpty {
            return try load(overrideFile: path)
        }
        let path = home + "/etc/cluster-internal.json"
        return try load(overrideFile: FileManager.default.fileExists(atPath: path) ? path : nil)
    }

    /// The defaults overridden by `overrideFile` (nil: the defaults).
    public static func load(overrideFile: String?) throws -> InternalOptions {
        guard let overrideFile else { return defaults }
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: overrideFile)))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ConfigError(file: overrideFile, field: "", problem: "cannot read the internal options file: \(reason)", code: 3006)
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw ConfigError(file: overrideFile, field: "", problem: error.description, code: 3006)
        }
        return try overriding(with: json, file: overrideFile)
    }

    /// Applies a `{"intervals": {"worker": {…}, "master": {…}, "communication": {…}}}` document.
    public static func overriding(with json: JSONValue, file: String) throws(ConfigError) -> InternalOptions {
        func fail(_ path: String, _ problem: String) -> ConfigError {
            ConfigError(file: file, field: path, problem: problem, code: 3006)
        }
        guard let top = json.objectValue else { throw fail("", "expected a JSON object at the top level") }
        var options = InternalOptions.defaults
        for (key, value) in top {
            if key == "registration" {
                guard let section = value.objectValue else { throw fail("registration", "expected an object") }
                for (name, v) in section {
                    guard name == "use_authd_socket" else { throw fail("registration.\(name)", "unknown key; known keys: use_authd_socket") }
                    guard let flag = v.boolValue else { throw fail("registration.use_authd_socket", "expected true or false") }
                    options.registrationUsesAuthdSocket = flag
                }
                continue
            }
            if key == "agent_database" {
                guard let section = value.objectValue else { throw fail("agent_database", "expected an object") }
                for (name, v) in section {
                    guard name == "backend" else { throw fail("agent_database.\(name)", "unknown key; known keys: backend") }
                    guard let text = v.stringValue, let choice = AgentDatabase(rawValue: text) else {
                        throw fail("agent_database.backend", "expected one of \(AgentDatabase.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), found \(v.pythonText)")
                    }
                    options.agentDatabase = choice
                }
                continue
            }
            if key == "limits" {
                guard let section = value.objectValue else { throw fail("limits", "expected an object") }
                for (name, v) in section {
                    guard name == "connections_per_address" else { throw fail("limits.\(name)", "unknown key; known keys: connections_per_address") }
                    guard let n = v.intValue, (1...65535).contains(n) else {
                        throw fail("limits.connections_per_address", "expected an integer from 1 to 65535, found \(v.pythonText)")
                    }
                    options.connectionsPerAddress = Int(n)
                }
                continue
            }
            if key == "framework" {
                try options.framework.read(value, file: file, fail: fail)
                continue
            }
            guard key == "intervals" else {
                // Other sections of the real cluster.json are accepted so a copy of it loads; they are fixed here.
                if ["files", "excluded_files", "excluded_extensions", "distributed_api"].contains(key) { continue }
                throw fail(key, "unknown key; expected \"intervals\", \"registration\", \"agent_database\", \"limits\" or \"framework\"")
            }
            guard let sections = value.objectValue else { throw fail("intervals", "expected an object") }
            for (sectionName, sectionValue) in sections {
                guard let fields = Self.fields[sectionName] else {
                    throw fail("intervals.\(sectionName)", "unknown section; expected worker, master or communication")
                }
                guard let entries = sectionValue.objectValue else { throw fail("intervals.\(sectionName)", "expected an object") }
                for (name, v) in entries {
                    let path = "intervals.\(sectionName).\(name)"
                    guard let field = fields[name] else {
                        throw fail(path, "unknown key; known keys: \(fields.keys.sorted().joined(separator: ", "))")
                    }
                    try field.apply(v, &options, path, fail)
                }
            }
        }
        guard options.minZipSize <= options.maxZipSize else {
            throw fail("intervals.communication.min_zip_size",
                       "must not exceed max_zip_size (\(options.minZipSize) > \(options.maxZipSize))")
        }
        return options
    }

    /// How one key is read and stored.
    struct Field {
        let apply: (JSONValue, inout InternalOptions, String, (String, String) -> ConfigError) throws(ConfigError) -> Void

        /// A duration in seconds: any non-negative finite number (fractions allowed).
        static func seconds(_ kp: WritableKeyPath<InternalOptions, Double>) -> Field {
            Field { v, o, path, fail throws(ConfigError) in
                guard let d = v.doubleValue, d.isFinite, d >= 0 else {
                    throw fail(path, "expected a number of seconds >= 0, found \(v.pythonText)")
                }
                o[keyPath: kp] = d
            }
        }

        /// An integer in `range`.
        static func integer(_ kp: WritableKeyPath<InternalOptions, Int>, _ range: ClosedRange<Int>) -> Field {
            Field { v, o, path, fail throws(ConfigError) in
                guard let i = v.intValue, let n = Int(exactly: i), range.contains(n) else {
                    throw fail(path, "expected an integer in \(range.lowerBound)...\(range.upperBound), found \(v.pythonText)")
                }
                o[keyPath: kp] = n
            }
        }

        /// A fraction in [0, 1).
        static func fraction(_ kp: WritableKeyPath<InternalOptions, Double>) -> Field {
            Field { v, o, path, fail throws(ConfigError) in
                guard let d = v.doubleValue, d >= 0, d < 1 else {
                    throw fail(path, "expected a number in [0, 1), found \(v.pythonText)")
                }
                o[keyPath: kp] = d
            }
        }
    }

    /// The cluster.json keys per section. A computed property: key paths are not Sendable, so no static table.
    static var fields: [String: [String: Field]] {
        [
            "worker": [
                "sync_integrity": .seconds(\.syncIntegrity),
                "sync_agent_info": .seconds(\.syncAgentInfo),
                "sync_agent_groups": .seconds(\.syncAgentGroupsWorker),
                "timeout_agent_groups": .seconds(\.timeoutAgentGroups),
                "keep_alive": .seconds(\.keepAlive),
                "connection_retry": .seconds(\.connectionRetry),
                "max_failed_keepalive_attempts": .integer(\.maxFailedKeepaliveAttempts, 1...1_000_000),
                "agent_groups_mismatch_limit": .integer(\.agentGroupsMismatchLimit, 1...1_000_000),
            ],
            "master": [
                "process_pool_size": .integer(\.processPoolSize, 1...1024),
                "sync_agent_groups": .seconds(\.syncAgentGroupsMaster),
                "timeout_extra_valid": .seconds(\.timeoutExtraValid),
                "recalculate_integrity": .seconds(\.recalculateIntegrity),
                "timeout_agent_info": .seconds(\.timeoutAgentInfo),
                "agent_group_start_delay": .seconds(\.agentGroupStartDelay),
                "check_worker_lastkeepalive": .seconds(\.checkWorkerLastKeepalive),
                "max_allowed_time_without_keepalive": .seconds(\.maxAllowedTimeWithoutKeepalive),
                "max_locked_integrity_time": .seconds(\.maxLockedIntegrityTime),
            ],
            "communication": [
                "timeout_cluster_request": .seconds(\.timeoutClusterRequest),
                "timeout_dapi_request": .seconds(\.timeoutDapiRequest),
                "timeout_receiving_file": .seconds(\.timeoutReceivingFile),
                "max_zip_size": .integer(\.maxZipSize, 1...Int(Int64.max)),
                "min_zip_size": .integer(\.minZipSize, 1...Int(Int64.max)),
                "compress_level": .integer(\.compressLevel, 0...9),
                "zip_limit_tolerance": .fraction(\.zipLimitTolerance),
            ],
        ]
    }
}
