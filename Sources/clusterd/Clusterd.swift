import ArgumentParser
import ClusterNode
import Common
import Foundation

@main
struct Clusterd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusterd",
        abstract: "Wazuh-compatible manager cluster daemon (master or worker).",
        discussion: """
        Reads the <cluster> block of <home>/etc/ossec.conf and runs this node as its master or one of its \
        workers, wire-compatible with Wazuh 4.8.1 nodes. Logs go to <home>/logs/cluster.log (and stderr with -f). \
        Internal intervals can be overridden with <home>/etc/cluster-internal.json or $CLUSTERD_INTERNAL_OPTIONS \
        (cluster.json "intervals" shape). SIGTERM or SIGINT stops the node gracefully.
        """)

    @Flag(name: .short, help: "Run in the foreground (log to stderr too).")
    var f = false

    @Flag(name: .short, help: "Debug output; -dd for DEBUG2.")
    var d: Int

    @Flag(name: .short, help: "Test the configuration and exit (0 if valid).")
    var t = false

    @Flag(name: .customShort("V"), help: "Print the version and exit.")
    var version = false

    @Option(name: .long, help: "Node home directory.")
    var home: String = ProcessInfo.processInfo.environment["CLUSTERD_HOME"] ?? "/var/ossec"

    func run() async throws {
        if version {
            print("\nclusterd \(NodeContext.version) - wire-compatible with Wazuh \(NodeContext.version) cluster nodes\n")
            return
        }
        let isDaemonChild = ProcessInfo.processInfo.environment["CLUSTERD_DAEMON_CHILD"] == "1"
        let level = InternalOptions.debugLevel(home: home, cliCount: d)
        let logLevel: LogLevel = level >= 2 ? .debug2 : level == 1 ? .debug : .info
        try? FileManager.default.createDirectory(atPath: home + "/logs", withIntermediateDirectories: true)
        let log: ClusterLog
        do {
            log = try ClusterLog(path: home + "/logs/cluster.log", level: logLevel, mirrorToStderr: f || t)
        } catch {
            FileHandle.standardError.write(Data("clusterd: cannot open \(home)/logs/cluster.log: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let config: ClusterConfig
        let options: InternalOptions
        do {
            let report = try ClusterConfigLoader.loadReport(home: home)
            config = report.config
            // What 4.8.1 logs while reading the block: several <node> entries, the deprecated `client`
            // type and `interval` option, several <cluster> sections.
            for note in report.notes { log.info(tag: "Cluster", subtag: "Main", note) }
            for warning in report.warnings { log.warning(tag: "Cluster", subtag: "Main", warning) }
            options = try InternalOptions.load(home: home)
        } catch {
            log.error(tag: "Cluster", subtag: "Main", "\(error)")
            if !f && !t { FileHandle.standardError.write(Data("clusterd: \(error)\n".utf8)) }
            throw ExitCode(1)
        }
        if config.disabled {
            if t { print("clusterd: cluster is disabled in \(home)/etc/ossec.conf") }
            return
        }
        if t {
            print("clusterd: configuration OK (\(config.nodeType.rawValue) '\(config.nodeName)' of cluster '\(config.name)')")
            return
        }
        if !f && !isDaemonChild {
            try Daemon.spawnBackground()
            return
        }
        MemoryTuning.apply()
        let ctx = try NodeContext(home: home, config: config, options: options, log: log)
        Daemon.cleanUp(ctx)
        for leftover in PackageApplier(home: home).sweepTemporaryFiles() {
            log.warning(tag: "Cluster", subtag: "Main", "Removed temporary file left by an interrupted synchronization: \(leftover)")
        }
        let pidFile = try Daemon.writePidFile(home: home)
        if f { FileHandle.standardError.write(Data("Starting cluster in foreground (pid: \(getpid()))\n".utf8)) }
        defer { unlink(pidFile) }
        try await runNode(ctx)
        log.info(tag: "Cluster", subtag: "Main", "Stopped.")
    }

    private func runNode(_ ctx: NodeContext) async throws {
        let store: any AgentBackend
        do {
            let (backend, reason) = try AgentBackendChoice.open(home: ctx.home, nodeName: ctx.config.nodeName,
                                                                choice: ctx.options.agentDatabase)
            store = backend
            ctx.log.info(tag: "Cluster", subtag: "Main", "Agent database: \(backend.backendDescription) (\(reason)).")
            if backend is WazuhDBBackend && !FileManager.default.fileExists(atPath: WazuhDBClient.socketPath(home: ctx.home)) {
                ctx.log.warning(tag: "Cluster", subtag: "Main", "wazuh-db is not listening yet on \(WazuhDBClient.socketPath(home: ctx.home)); the agent tasks retry every interval.")
            }
        } catch {
            ctx.log.error(tag: "Cluster", subtag: "Main", "Cannot open the agent database: \(error)")
            if !f { FileHandle.standardError.write(Data("clusterd: cannot open the agent database: \(error)\n".utf8)) }
            throw ExitCode(1)
        }
        do {
            try await NodeRuntime.run(ctx, store: store)
        } catch {
            ctx.log.error(tag: "Cluster", subtag: "Main", "Unhandled exception: \(error)")
            throw ExitCode(1)
        }
    }
}
