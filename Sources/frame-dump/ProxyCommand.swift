import ArgumentParser
import Common
import NIOCore
import NIOPosix

/// `frame-dump proxy`: a TCP proxy that forwards bytes unchanged and prints the decode as they pass.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Forward a TCP port to a cluster node and print the messages that pass.",
        discussion: """
            Listens on --listen, and for each connection opens one to --to and copies bytes both ways \
            unchanged; each direction is also decoded and printed like a capture. Point a worker (or \
            cluster_control over TCP) at the proxy instead of the master to watch the conversation. \
            Decoding problems are reported on stderr and never disturb forwarding. The listening \
            address is printed on stderr (use port 0 for an ephemeral port). Runs until interrupted.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Address to listen on (port 0: any free port).", valueName: "HOST:PORT"))
    var listen: HostPort

    @Option(name: .long, help: ArgumentHelp("Address of the real cluster node.", valueName: "HOST:PORT"))
    var to: HostPort

    @OptionGroup var keyOptions: KeyOptions
    @OptionGroup var printOptions: PrintOptions

    func run() throws {
        let live = LiveDecoder(fernet: try keyOptions.fernet(), formatter: printOptions.formatter)
        let target = to
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)  // read only once the upstream is connected
            .childChannelInitializer { inbound in
                inbound.eventLoop.makeCompletedFuture {
                    try inbound.pipeline.syncOperations.addHandler(UpstreamConnector(target: target, live: live))
                }
            }
        let server: Channel
        do {
            server = try bootstrap.bind(host: listen.host, port: listen.port).wait()
        } catch {
            Output.error("cannot listen on \(listen): \(error)")
            try? group.syncShutdownGracefully()
            throw ExitCode(ExitStatus.usage)
        }
        let bound = server.localAddress.map(Self.text) ?? listen.description
        Output.error("listening on \(bound), forwarding to \(target)")
        try server.closeFuture.wait()
        try group.syncShutdownGracefully()
    }

    /// `ip:port` as in captures.
    static func text(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
