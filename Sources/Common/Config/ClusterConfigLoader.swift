import Foundation

/// A loaded configuration and the warnings 4.8.1 would log while reading it.
public struct ClusterConfigLoadResult: Sendable, Equatable {
    public var config: ClusterConfig
    public var warnings: [String]
    /// INFO-level notes (the deprecated `client` node type).
    public var notes: [String]
    public var file: String
}

/// Reads the `<cluster>` block of `etc/ossec.conf` (LOCAL-DAPI-CONTROL.md §3.1): the Python reader's
/// defaults and conversions, the C reader's element and character rules, then `check_cluster_config` for
/// enabled blocks.
public enum ClusterConfigLoader {
    /// Elements the C reader (`cluster-config.c`) accepts inside `<cluster>`; anything else is an error there,
    /// and C daemons refuse to start, so we refuse too rather than run with a block they reject.
    static let allowedChildren: Set<String> = [
        "disabled", "name", "node_name", "node_type", "key", "socket_timeout", "connection_timeout", "interval",
        "nodes", "hidden", "port", "bind_addr",
    ]

    /// Characters the C reader allows in `<name>` and `<node_name>`.
    static let nameCharacters: Set<UInt8> = Set(Array("!\"#$%&'-.0123456789:<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_abcdefghijklmnopqrstuvwxyz{|}~".utf8))

    /// Loads `configFile` (default `<home>/etc/ossec.conf`) and validates it when enabled.
    public static func load(home: String, configFile: String? = nil) throws -> ClusterConfig {
        try loadReport(home: home, configFile: configFile).config
    }

    /// `load`, also returning the warnings to log.
    public static func loadReport(home: String, configFile: String? = nil) throws(ConfigError) -> ClusterConfigLoadResult {
        let file = configFile ?? home + "/etc/ossec.conf"
        let text: String
        do {
            text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ConfigError(file: file, field: "", problem: "cannot read the configuration file: \(reason)", code: 3006)
        }
        return try parse(text, file: file)
    }

    /// Parses configuration text; `file` labels errors and warnings.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ClusterConfigLoadResult {
        let roots: [ConfigXMLElement]
        do {
            roots = try ConfigXMLReader.parse(text)
        } catch {
            throw ConfigError(file: file, field: "line \(error.line)", problem: error.reason, code: 3006)
        }
        let blocks = roots.filter { $0.name == "ossec_config" }.flatMap { $0.children(named: "cluster") }
        var result = ClusterConfigLoadResult(config: .absent, warnings: [], notes: [], file: file)
        guard let block = blocks.last else { return result }
        if blocks.count > 1 {
            result.warnings.append("There are multiple cluster sections in configuration. Using only last section.")
        }
        var config = ClusterConfig.defaults
        try apply(block, to: &config, result: &result, file: file)
        if !config.disabled {
            try config.validate(file: file)
            result.warnings += config.warnings
        }
        result.config = config
        return result
    }

    /// Applies each child of a `<cluster>` element in document order, so a repeated element's last value wins.
    static func apply(_ block: ConfigXMLElement, to config: inout ClusterConfig, result: inout ClusterConfigLoadResult,
                      file: String) throws(ConfigError) {
        func fail(_ field: String, _ problem: String, line: Int) -> ConfigError {
            ConfigError(file: file, field: "<cluster><\(field)>", problem: "\(problem) (line \(line))", code: 3004)
        }
        for child in block.children {
            let value = child.text
            switch child.name {
            case _ where !allowedChildren.contains(child.name):
                throw fail(child.name, "Invalid element in the cluster configuration. Allowed elements: "
                    + allowedChildren.sorted().joined(separator: ", ") + ".", line: child.line)
            case "name", "node_name":
                guard !value.isEmpty else { throw fail(child.name, "Empty value; a name is required.", line: child.line) }
                if let bad = value.utf8.first(where: { !nameCharacters.contains($0) }) {
                    let shown = bad < 0x80 ? "'\(Character(Unicode.Scalar(bad)))'" : "a non-ASCII character"
                    throw fail(child.name, "Invalid character \(shown) in '\(value)'. Allowed: letters, digits and "
                        + "!\"#$%&'-.:<=>?[\\]^_{|}~ (no spaces, parentheses, '*', '+', ',', '/', '@' or '`').", line: child.line)
                }
                if child.name == "name" { config.name = value } else { config.nodeName = value }
            case "node_type":
                switch value {
                case "master": config.nodeType = .master
                case "worker": config.nodeType = .worker
                case "client":
                    config.nodeType = .worker
                    result.notes.append("Deprecated node type 'client'. Using 'worker' instead.")
                default:
                    throw fail("node_type", "Invalid node type \(value). Correct values are master and worker", line: child.line)
                }
            case "key":
                config.key = value
            case "port":
                // Python accepts str.isdigit() text and converts it with int(); anything else is 3004.
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw fail("port", "Cluster port must be an integer.", line: child.line)
                }
                config.port = Int(value) ?? Int.max  // overflow: reported by the range check
            case "bind_addr":
                config.bindAddr = value
            case "nodes":
                var nodes: [String] = []
                for node in child.children {
                    guard node.name == "node" else {
                        throw fail("nodes", "Invalid element <\(node.name)>; <nodes> holds only <node> elements.", line: node.line)
                    }
                    nodes.append(node.text)
                }
                config.nodes = nodes
            case "hidden":
                guard let flag = yesNo(value) else {
                    throw fail("hidden", "Allowed values for 'hidden' field are 'yes' and 'no'. Found: '\(value)'", line: child.line)
                }
                config.hidden = flag
            case "disabled":
                guard let flag = yesNo(value) else {
                    throw fail("disabled", "Allowed values for 'disabled' field are 'yes' and 'no'. Found: '\(value)'", line: child.line)
                }
                config.disabled = flag
            case "interval":
                result.warnings.append("Detected a deprecated configuration for cluster. Interval option is not longer available.")
            default:
                break  // socket_timeout, connection_timeout: read by C daemons only.
            }
        }
    }

    static func yesNo(_ s: String) -> Bool? {
        switch s {
        case "yes": return true
        case "no": return false
        default: return nil
        }
    }
}
