/// clusterd's own `framework` section of the internal options file (not in Wazuh's cluster.json): where
/// the node's Wazuh framework is, for the functions clusterd does not serve itself (the framework bridge,
/// clusterd(8)). Without it the framework is looked for under `<home>/framework`.
///
/// ```
/// {"framework": {"python": "/var/ossec/framework/python/bin/python3", "path": "/var/ossec/framework",
///                "process_pool_size": 2, "enabled": true}}
/// ```
public struct FrameworkOptions: Sendable, Equatable {
    /// The Python interpreter that runs the executors.
    public var python: String?
    /// A directory holding the `wazuh` package, put first on the executors' `sys.path`.
    public var path: String?
    /// How many executors run at once.
    public var processPoolSize: Int?
    /// false: no bridge even when a framework is found (unserved functions answer 3009).
    public var enabled = true
    /// The file the section came from (for the errors about its values found at start).
    public var file: String?

    public init() {}

    static let keys = ["enabled", "path", "process_pool_size", "python"]

    /// Reads the section; every wrong value is an error naming its key.
    mutating func read(_ value: JSONValue, file: String, fail: (String, String) -> ConfigError) throws(ConfigError) {
        guard let section = value.objectValue else { throw fail("framework", "expected an object") }
        self.file = file
        for (name, v) in section {
            let path = "framework.\(name)"
            switch name {
            case "python", "path":
                guard let s = v.stringValue, s.hasPrefix("/") else { throw fail(path, "expected an absolute path, found \(v.pythonText)") }
                if name == "python" { python = s } else { self.path = s }
            case "process_pool_size":
                guard let n = v.intValue, (1...64).contains(n) else { throw fail(path, "expected an integer in 1...64, found \(v.pythonText)") }
                processPoolSize = Int(n)
            case "enabled":
                guard let b = v.boolValue else { throw fail(path, "expected true or false, found \(v.pythonText)") }
                enabled = b
            default:
                throw fail(path, "unknown key; known keys: \(Self.keys.joined(separator: ", "))")
            }
        }
    }
}
