@testable import ClusterNode
import Common
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Two `PeerLink`s over a real Unix socket in this process: the links, their pipelines and the CPU pool
/// exactly as the daemon builds them, without any daemon around.
final class LinkPair: Sendable {
    static let key = "LinkPairTestKey0123456789abcdefg"

    /// Runs `body` with a client link connected to a server link; the server answers with `handler`.
    static func run(limits: PeerLimits = PeerLimits(maxFileBytes: 1 << 20), home: String? = nil, fileDirectory: String? = nil,
                    preHello: Set<String>? = nil, requestTimeout: Double = 120, pool given: CPUPool? = nil,
                    handler: @escaping PeerLink.Handler = { m, _ in .errText("unknown command 'b'\(m.name)''") },
                    body: @Sendable (_ client: PeerLink, _ server: PeerLink) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "linkpair-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.sock"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let pool = given ?? CPUPool(threads: 2)
        let fernet = try Fernet(clusterKey: key)
        let serverLink = Locked<PeerLink?>(nil)
        let server = try await ServerBootstrap(group: group).bind(unixDomainSocketPath: path) { channel in
            channel.eventLoop.makeCompletedFuture { try LinkPipeline.install(on: channel) }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        let eventLoop = connection.channel.eventLoop
                        try await connection.executeThenClose { input, output in
                            let link = PeerLink(outbound: output, fernet: fernet, pool: pool, eventLoop: eventLoop, remote: "client",
                                                requestTimeout: requestTimeout, limits: limits, home: home, fileDirectory: fileDirectory,
                                                preHello: preHello, handler: handler)
                            serverLink.withLock { $0 = link }
                            try? await link.serve(input)
                            await link.close()
                        }
                        return
                    }
                }
            }
            let client = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture { try LinkPipeline.install(on: channel) }
            }
            let eventLoop = client.channel.eventLoop
            try await client.executeThenClose { input, output in
                let link = PeerLink(outbound: output, fernet: fernet, pool: pool, eventLoop: eventLoop, remote: "server",
                                    requestTimeout: requestTimeout, limits: limits, handler: { m, _ in .errText("unknown command 'b'\(m.name)''") })
                try await withThrowingTaskGroup(of: Void.self) { inner in
                    inner.addTask { try? await link.serve(input) }
                    // The server link exists once the connection is accepted: ask it something to be sure.
                    _ = try await link.request("echo", text: "ready")
                    let peer = serverLink.withLock { $0 }!
                    try await body(link, peer)
                    client.channel.close(promise: nil)
                    try await inner.waitForAll()
                }
                await link.close()
            }
            try await tasks.waitForAll()
        }
        await pool.shutdown()
        try await group.shutdownGracefully()
    }
}

/// A gate a test opens: handlers wait on it, and the test can wait until one does.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var watchers: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    func wait() async {
        await withCheckedContinuation { c in
            let (run, watchers) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                if s.open { return (true, []) }
                s.waiters.append(c)
                defer { s.watchers = [] }
                return (false, s.watchers)
            }
            for w in watchers { w.resume() }
            if run { c.resume() }
        }
    }

    /// Returns once a handler waits at the gate.
    func someoneWaits() async {
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Bool in
                if !s.waiters.isEmpty { return true }
                s.watchers.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
    var waiting: Int { state.withLock { $0.waiters.count } }
}

/// A value shared between a test and the closures it hands out.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
