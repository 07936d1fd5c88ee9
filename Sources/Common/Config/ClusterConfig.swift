/// The role of a node (`<node_type>`; the deprecated `client` is read as `worker`).
public enum NodeType: String, Sendable {
    case master, worker
}

/// The `<cluster>` block of `etc/ossec.conf` after defaults are applied (LOCAL-DAPI-CONTROL.md §3.1).
public struct ClusterConfig: Sendable, Equatable {
    public var name: String
    public var nodeName: String
    public var nodeType: NodeType
    /// The 32-character shared secret; the Fernet key of node-to-node traffic is `base64(key)`.
    public var key: String
    public var port: Int
    public var bindAddr: String
    /// `<nodes><node>…</node></nodes>`; only the first entry is used (the master's address).
    public var nodes: [String]
    /// `<hidden>yes</hidden>`: read by the C daemons to hide cluster names in alerts.
    public var hidden: Bool
    public var disabled: Bool

    public init(name: String = "wazuh", nodeName: String = "node01", nodeType: NodeType = .master, key: String = "",
                port: Int = 1516, bindAddr: String = "0.0.0.0", nodes: [String] = ["NODE_IP"], hidden: Bool = false,
                disabled: Bool = false) {
        self.name = name
        self.nodeName = nodeName
        self.nodeType = nodeType
        self.key = key
        self.port = port
        self.bindAddr = bindAddr
        self.nodes = nodes
        self.hidden = hidden
        self.disabled = disabled
    }

    /// The values a block gets for keys it does not set (4.8.1 `read_cluster_config`).
    public static let defaults = ClusterConfig()

    /// What a file without any `<cluster>` block means: the defaults, disabled.
    public static let absent = ClusterConfig(disabled: true)

    /// The address a worker connects to, also reported as the master's `ip` (`nodes[0]`).
    public var masterAddress: String { nodes.first ?? "" }

    /// The `get_config` reply: the Python dict of `read_cluster_config`, key in clear, `port` an int,
    /// `disabled` a bool and `hidden` the `yes`/`no` string, keys in the order of the shipped template.
    public var json: JSONValue {
        .object(JSONObject([
            ("name", .string(name)),
            ("node_name", .string(nodeName)),
            ("node_type", .string(nodeType.rawValue)),
            ("key", .string(key)),
            ("port", .int(Int64(port))),
            ("bind_addr", .string(bindAddr)),
            ("nodes", .array(nodes.map { .string($0) })),
            ("hidden", .string(hidden ? "yes" : "no")),
            ("disabled", .bool(disabled)),
        ]))
    }

    /// `check_cluster_config` (§3.1, rules 1–7) for an enabled block. `file` only labels the errors.
    /// The loader calls this for enabled blocks; a disabled block is not checked, as in 4.8.1, where the
    /// daemon exits quietly before validating and `cluster_control` stops at "Cluster is not running".
    public func validate(file: String) throws(ConfigError) {
        func fail(_ field: String, _ problem: String) -> ConfigError {
            ConfigError(file: file, field: "<cluster><\(field)>", problem: problem, code: 3004)
        }
        if key.isEmpty { throw fail("key", "Unspecified key") }
        if key.unicodeScalars.count != 32 || !key.unicodeScalars.allSatisfy(Self.isPythonWordCharacter) {
            throw fail("key", "Key must be 32 characters long and only have alphanumeric characters")
        }
        // node_type is an enum here, so rule 3 is enforced while parsing.
        if !(1024 < port && port < 65535) {
            throw fail("port", "Port must be higher than 1024 and lower than 65535.")
        }
        guard !nodes.isEmpty else {
            // 4.8.1 would fail later with an IndexError when a worker reads nodes[0]; say it here instead.
            throw fail("nodes", "At least one <node> is required: the master's address.")
        }
        let reserved: Set<String> = ["localhost", "NODE_IP", "0.0.0.0", "127.0.1.1"]
        var invalid: [String] = []
        for node in nodes where reserved.contains(node) && !invalid.contains(node) { invalid.append(node) }
        if !invalid.isEmpty {
            throw fail("nodes", "Invalid elements in node fields: \(invalid.joined(separator: ", ")).")
        }
    }

    /// Warnings 4.8.1 logs for a valid block (rule 6).
    public var warnings: [String] {
        nodes.count > 1
            ? ["Found more than one node in configuration. Only master node should be specified. Using \(nodes[0]) as master."]
            : []
    }

    /// Python's `\w` on a `str`: letters, digits (any script) and underscore.
    static func isPythonWordCharacter(_ s: Unicode.Scalar) -> Bool {
        s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil
    }
}

/// A configuration problem: the file, the element path (`<cluster><port>`) and what is wrong. `code` is the
/// Wazuh error code 4.8.1 would raise (3004 invalid value, 3006 unreadable file).
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    /// Element path such as `<cluster><port>`, a key path such as `intervals.worker.keep_alive`, or a line
    /// reference for syntax errors.
    public let field: String
    public let problem: String
    public let code: Int

    public init(file: String, field: String, problem: String, code: Int = 3004) {
        self.file = file
        self.field = field
        self.problem = problem
        self.code = code
    }

    public var description: String {
        field.isEmpty ? "\(file): \(problem)" : "\(file): \(field): \(problem)"
    }
}
