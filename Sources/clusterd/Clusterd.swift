import ArgumentParser
import ClusterNode
import Common
import Foundation
import UnixSignals

@main
struct Clusterd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusterd",
        abstract: "Wazuh-compatible manager cluster daemon (master or worker).",
        discussion: """
        Reads the <cluster> block of <home>/etc/ossec.conf (or of the file given with -c) and runs this node as \
        its master or one of its workers, wire-compatible with Wazuh 4.8.1 nodes. Internal intervals can be \
        overridden with <home>/etc/cluster-internal.json or $CLUSTERD_INTERNAL_OPTIONS (cluster.json "intervals" shape).

        Started as root, the daemon switches to the wazuh user and group before it serves (unless -r), as \
        wazuh-clusterd does; without such a user and group it stays root and logs why. Synced files get their \
        cluster item's owner (wazuh:wazuh) and mode.

        While it runs, <home>/var/run/wazuh-clusterd-<pid>.pid holds its pid (mode 0640); stale ones of dead \
        processes are removed at start. Logs go to <home>/logs/cluster.log (and stderr with -f); at local \
        midnight the day's lines are compressed to <home>/logs/cluster/<YYYY>/<Mon>/cluster-<DD>.log.gz and a \
        new cluster.log starts. SIGHUP reopens cluster.log (a new one if it was moved away, for logrotate). \
        SIGTERM or SIGINT stops the node gracefully and removes the pid file.
        """)

    @Flag(name: .short, help: "Run in the foreground (log to stderr too).")
    var f = false

    @Flag(name: .short, help: "Debug output; -dd for DEBUG2. A non-zero wazuh_clusterd.debug in etc/local_internal_options.conf or etc/internal_options.conf wins.")
    var d: Int

    @Flag(name: .short, help: "Test the configuration and exit (0 if valid).")
    var t = false

    @Flag(name: .short, help: "Stay root: do not switch to the wazuh user and group.")
    var r = false

    @Option(name: .customShort("c"), help: ArgumentHelp("Configuration file (default <home>/etc/ossec.conf); also for -t.", valueName: "file"))
    var configFile: String?

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
        let serving = (f || isDaemonChild) && !t
        let configPath = configFile ?? home + "/etc/ossec.conf"
        // Started as root: what needs root, then the switch to wazuh in a fresh image of this program.
        if serving { try Privileges.switchToWazuhIfRoot(home: home, configFile: configPath, stayRoot: r, foreground: f) }
        let debugOption = InternalOptions.debugOption(home: home)
        let level = InternalOptions.debugLevel(option: debugOption, cliCount: d)
        let logLevel: LogLevel = level >= 2 ? .debug2 : level == 1 ? .debug : .info
        try? FileManager.default.createDirectory(atPath: home + "/logs", withIntermediateDirectories: true)
        let rotation = LogRotation(logsDirectory: home + "/logs")
        // Lines of an earlier day (the daemon was down at midnight) go to their archive first.
        let rotationNotes = serving ? rotation.prepareAtStart(now: Date()) : []
        let log: ClusterLog
        do {
            log = try ClusterLog(path: rotation.logPath, level: logLevel, mirrorToStderr: f || t)
        } catch {
            let hint = ProcessInfo.processInfo.environment[Privileges.switchedMarker] == nil ? ""
                : " (running as the \(Privileges.user) user: its home must be writable by it, as an installed Wazuh home is, or start with -r)"
            FileHandle.standardError.write(Data("clusterd: \(error)\(hint)\n".utf8))
            throw ExitCode(1)
        }
        for note in rotationNotes { log.info(tag: "Cluster", subtag: "Main", note) }
        if let warning = debugOption.warning { log.warning(tag: "Cluster", subtag: "Main", warning) }
        // As 4.8.1 at start, also with -r: the log belongs to wazuh:wazuh.
        if geteuid() == 0, let ids = Privileges.wazuhIDs() { chown(rotation.logPath, ids.uid, ids.gid) }
        let config: ClusterConfig
        let options: InternalOptions
        do {
            let report = try ClusterConfigLoader.loadReport(home: home, configFile: configPath)
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
            if t { print("clusterd: cluster is disabled in \(configPath)") }
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
        // Done as root already when the daemon switched to wazuh; still done here for one that did not.
        Daemon.cleanUp(home: home)
        for leftover in PackageApplier(home: home).sweepTemporaryFiles() {
            log.warning(tag: "Cluster", subtag: "Main", "Removed temporary file left by an interrupted synchronization: \(leftover)")
        }
        for stale in Daemon.removeStalePidFiles(home: home) {
            log.debug(tag: "Cluster", subtag: "Main", "Removed the pid file of a process that is gone: \(home)/var/run/\(stale)")
        }
        switch Privileges.outcome(stayRoot: r) {
        case .switched(let uid, let gid):
            log.info(tag: "Cluster", subtag: "Main", "Running as user \(Privileges.user) (uid \(uid)) and group \(Privileges.group) (gid \(gid)).")
        case .stayedRoot(let reason):
            log.info(tag: "Cluster", subtag: "Main", "Running as root: \(reason).")
        case .notRoot:
            break
        }
        if let reason = FileOwnership.resolve(.clusterd).skipReason {
            log.debug(tag: "Cluster", subtag: "Main", "Synced files get their cluster item's mode but not its owner: \(reason).")
        }
        let pidFile: String
        do {
            pidFile = try Daemon.writePidFile(home: home)
        } catch {
            log.error(tag: "Cluster", subtag: "Main", "\(error)")
            if !f { FileHandle.standardError.write(Data("clusterd: \(error)\n".utf8)) }
            throw ExitCode(1)
        }
        defer { unlink(pidFile) }
        if f { FileHandle.standardError.write(Data("Starting cluster in foreground (pid: \(getpid()))\n".utf8)) }
        let ctx = try NodeContext(home: home, config: config, options: options, log: log)
        let maintenance = LogMaintenance(log: log, rotation: rotation) { body in try await ctx.pool.run(body) }
        // Trapped before the node serves: SIGHUP's default action would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await maintenance.runMidnightRotation() }
            group.addTask { for await _ in hangups { maintenance.reopen() } }
            defer { group.cancelAll() }
            try await runNode(ctx)
        }
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
