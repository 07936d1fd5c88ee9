import Common
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A running node: its event loops (one per core, I/O only), the local socket server, and the master or
/// worker service, under one `ServiceGroup` that SIGTERM and SIGINT stop gracefully.
public enum NodeRuntime {
    /// Runs the node until it is asked to stop; throws what ended it otherwise.
    public static func run(_ ctx: NodeContext, store: any AgentBackend) async throws {
        // Every parallel loop of the library runs on the node's pool from now on, not on GCD's threads.
        ParallelLoop.install(ctx.pool.parallelLoop)
        let framework = try FrameworkInstallation.find(home: ctx.home, options: ctx.options, isMaster: ctx.config.nodeType == .master)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let clients = LocalClients()
        let dapi = DapiNode(ctx: ctx, store: store, clients: clients)
        let master = ctx.config.nodeType == .master ? Master(ctx: ctx, store: store, dapi: dapi) : nil
        let worker = ctx.config.nodeType == .worker ? Worker(ctx: ctx, store: store, clients: clients, dapi: dapi) : nil
        if let master { dapi.attach(master: master) }
        if let worker { dapi.attach(worker: worker) }
        let bridge = DapiNode.startBridge(ctx: ctx, installation: framework, loop: group.next())
        if let bridge { dapi.attach(bridge: bridge) }
        let local = LocalServer(ctx: ctx, master: master, worker: worker, clients: clients, dapi: dapi)
        var services: [any Service] = [NodeService { try await local.run(group: group) }]
        if let master { services.append(NodeService { try await master.run(group: group) }) }
        if let worker { services.append(NodeService { try await worker.run(group: group) }) }
        var logger = Logger(label: "clusterd")
        logger.logLevel = .critical
        let serviceGroup = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                             gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // Event loops and the CPU pool stop after every service ended.
        do {
            try await serviceGroup.run()
        } catch is CancellationError {
            // The graceful-shutdown path: services end by cancellation.
        } catch {
            await bridge?.shutdown()
            await ctx.pool.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        // The executors end before the loops their pipes run on.
        await bridge?.shutdown()
        await ctx.pool.shutdown()
        try? await group.shutdownGracefully()
        ctx.log.info(tag: "Cluster", subtag: "Main", "SIGNAL received. Exit...")
    }
}

/// A node task as a service: runs until the task ends or the process is asked to stop.
struct NodeService: Service {
    let body: @Sendable () async throws -> Void
    init(_ body: @escaping @Sendable () async throws -> Void) { self.body = body }
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await body() }
    }
}
