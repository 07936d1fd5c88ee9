import Common
import Foundation

/// Where a node's Wazuh framework is, for the framework bridge: `<home>/framework/python/bin/python3`
/// and `<home>/framework/wazuh` (a Wazuh manager's layout), or what the internal options' `framework`
/// section names.
public struct FrameworkInstallation: Sendable, Equatable {
    /// The interpreter the executors run.
    public var python: String
    /// Put first on the executors' `sys.path` (the directory holding `wazuh/`); nil: the interpreter's own.
    public var path: String?
    /// How many executors run.
    public var processes: Int
    /// Where it was found: "detected under <home>/framework" or "from <options file>".
    public var origin: String

    /// The node's framework, nil when there is none (or `framework.enabled` is false). A path the options
    /// name that is not there is an error naming the key.
    public static func find(home: String, options: InternalOptions, isMaster: Bool,
                            cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws(ConfigError) -> FrameworkInstallation? {
        let o = options.framework
        guard o.enabled else { return nil }
        let fm = FileManager.default
        let processes = poolSize(o, masterPoolSize: options.processPoolSizeSet, isMaster: isMaster, cores: cores)
        let standard = (python: home + "/framework/python/bin/python3", path: home + "/framework")
        func fail(_ key: String, _ problem: String) -> ConfigError {
            ConfigError(file: o.file ?? "internal options", field: "framework.\(key)", problem: problem, code: 3006)
        }
        if o.python == nil && o.path == nil {
            guard fm.isExecutableFile(atPath: standard.python), isDirectory(standard.path + "/wazuh") else { return nil }
            return FrameworkInstallation(python: standard.python, path: standard.path, processes: processes,
                                         origin: "detected under \(standard.path)")
        }
        let python = o.python ?? standard.python
        guard fm.isExecutableFile(atPath: python) else {
            throw fail(o.python == nil ? "path" : "python", "\(python) is not an executable file" + (o.python == nil ? " (set framework.python)" : ""))
        }
        var path = o.path
        if let p = path, !isDirectory(p + "/wazuh") { throw fail("path", "\(p) holds no wazuh package directory") }
        if path == nil, isDirectory(standard.path + "/wazuh") { path = standard.path }
        return FrameworkInstallation(python: python, path: path, processes: processes, origin: "from \(o.file ?? "the internal options")")
    }

    /// `framework.process_pool_size`, else as 4.8.1 sizes its pools: the master `process_pool_size`
    /// (default 2), a worker 1; never more than the cores.
    static func poolSize(_ o: FrameworkOptions, masterPoolSize: Int?, isMaster: Bool, cores: Int) -> Int {
        let wanted = o.processPoolSize ?? (isMaster ? (masterPoolSize ?? 2) : 1)
        return max(1, min(wanted, max(1, cores)))
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
