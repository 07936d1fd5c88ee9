import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `frame-dump faults`: a TCP proxy that injects network faults, switched over a control socket while
/// the cluster runs (the fault suite puts one between each worker and its master).
struct FaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faults",
        abstract: "Forward a TCP port to a cluster node, injecting network faults on command.",
        discussion: """
            Listens on --listen and forwards each connection to --to, applying the fault in force to \
            both directions: none, blackhole (bytes accepted and dropped), latency MS [JITTER] (each read \
            delayed, order kept), bandwidth BYTES_PER_S, fragment (one-byte writes), stall-after BYTES \
            (forward that many bytes, then nothing: a half-open connection), close-after BYTES. Write one \
            command per line to the Unix socket --control (e.g. `echo blackhole | socat - UNIX:PATH`); \
            `reset` closes every open connection with a TCP RST, `status` prints the fault in force. Each \
            command is answered `ok …` or `err …` and logged on stderr. The listening address is printed on \
            stderr (port 0: any free port). Runs until interrupted.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Address to listen on (port 0: any free port).", valueName: "HOST:PORT"))
    var listen: HostPort

    @Option(name: .long, help: ArgumentHelp("Address of the real cluster node.", valueName: "HOST:PORT"))
    var to: HostPort

    @Option(name: .long, help: ArgumentHelp("Unix socket for fault commands.", valueName: "PATH"))
    var control: String

    @Option(name: .long, help: ArgumentHelp("Fault in force at start (default: none).", valueName: "FAULT"))
    var fault: String = "none"

    func run() throws {
        guard let initial = Fault(command: fault) else {
            Output.error("unknown fault '\(fault)'")
            throw ExitCode(ExitStatus.usage)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let state = FaultState(loop: loop)
        try loop.submit { state.set(initial) }.wait()
        let target = to
        let server: Channel
        let controlChannel: Channel
        do {
            server = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { inbound in
                    inbound.eventLoop.makeCompletedFuture {
                        try inbound.pipeline.syncOperations.addHandler(FaultConnector(target: target, state: state))
                    }
                }
                .bind(host: listen.host, port: listen.port).wait()
            unlink(control)
            controlChannel = try ServerBootstrap(group: group)
                .childChannelInitializer { c in
                    c.eventLoop.makeCompletedFuture { try c.pipeline.syncOperations.addHandler(FaultControlHandler(state: state)) }
                }
                .bind(unixDomainSocketPath: control).wait()
        } catch {
            Output.error("cannot listen on \(listen) and \(control): \(error)")
            try? group.syncShutdownGracefully()
            throw ExitCode(ExitStatus.usage)
        }
        let bound = server.localAddress.map(ProxyCommand.text) ?? listen.description
        Output.error("listening on \(bound), forwarding to \(target), fault \(initial), control \(control)")
        try server.closeFuture.wait()
        try controlChannel.close().wait()
        try group.syncShutdownGracefully()
    }
}
