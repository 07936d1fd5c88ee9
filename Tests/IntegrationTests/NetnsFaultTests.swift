import Foundation
import Testing

/// One scenario of the network-namespaces variant: what is done to the links, and how they are made bad.
struct NetnsScenario: Sendable, CustomTestStringConvertible {
    enum Kind: Sendable {
        /// Both workers' links lossy for `lossy` seconds, then partitioned for `partition` seconds (longer
        /// than the keep-alive limits of both sides), then clear.
        case lossyThenPartition(lossy: Double, partition: Double)
        /// worker1's connection cut (its frames dropped both ways), worker1 killed (its FIN is lost, so the
        /// master's end stays half-open, as when a worker's host dies) and started again at once; its new
        /// connection meets the master still holding the dead session, and must not be refused for it.
        /// The cut is lifted after `seconds`.
        case workerRestartedWhileItsSessionIsHalfOpen(seconds: Double)
    }
    let name: String
    /// The ways to make the links bad, in order of preference: the first this machine has is used.
    let shapers: [ClusterNetwork.LinkShaper]
    let kind: Kind
    /// Overrides of the master's intervals for this scenario.
    var masterIntervals: [String: Double] = [:]

    var testDescription: String { name }

    var seconds: Double {
        switch kind {
        case .lossyThenPartition(let lossy, let partition): return lossy + partition
        case .workerRestartedWhileItsSessionIsHalfOpen(let seconds): return seconds
        }
    }

    /// What a bad link explains, on a network too: a connection attempt that finds no route while the
    /// partition lasts.
    static let explained = FaultScenario.linkErrors + ["No route to host", "unreachable", "Host is down",
                                                       "Maximum number of failed keep alives reached"]

    static let all: [NetnsScenario] = [
        .init(name: "netns: netem 100±50 ms + 5 % loss 6 s, then partition 6 s", shapers: [.netem],
              kind: .lossyThenPartition(lossy: 6, partition: 6)),
        .init(name: "netns: 5 % loss (nftables) 6 s, then partition 6 s", shapers: [.nftables],
              kind: .lossyThenPartition(lossy: 6, partition: 6)),
        // The master's keep-alive limit well past the scenario: the dead session is still registered when
        // the restarted worker says hello, and only the new hello can make the master let go of it.
        .init(name: "netns: worker1 killed and restarted, its old session half-open", shapers: [.nftables],
              kind: .workerRestartedWhileItsSessionIsHalfOpen(seconds: 5), masterIntervals: ["max_allowed_time_without_keepalive": 30]),
    ]

    /// `make faults` runs every scenario (CLUSTERD_FAULTS=all); `make test` the short one.
    static var selected: [NetnsScenario] {
        ProcessInfo.processInfo.environment["CLUSTERD_FAULTS"] == "all" ? all : all.filter { $0.name.contains("half-open") }
    }
}

/// The fault suite's cluster across network namespaces (issue #14): each node in its own namespace on
/// its own address (`ClusterNetwork`), the workers' links made lossy (netem delay and loss where the kernel
/// has netem), then cut, with files and agents changing throughout; afterwards the same checks as
/// `FaultSuiteTests` (`FaultRun`). Skipped, with the reason, where namespaces or the link shaping cannot
/// be had (not root, no iproute2, no netem nor nftables).
@Suite(.serialized) struct NetnsFaultTests {
    static let port = 1516

    /// The source port of the last connection the master logged from `address`.
    static func lastConnectionPort(_ log: String, from address: String) -> Int? {
        let marker = "Connection from ('\(address)', "
        guard let r = log.range(of: marker, options: .backwards) else { return nil }
        return Int(log[r.upperBound...].prefix { $0.isNumber })
    }

    @Test(arguments: NetnsScenario.selected) func clusterOnItsOwnNetworkConvergesAfterTheFault(_ scenario: NetnsScenario) throws {
        if let why = ClusterNetwork.unavailable() { return FaultRun.skip(scenario.name, why) }
        let network: ClusterNetwork
        do { network = try ClusterNetwork() } catch { return FaultRun.skip(scenario.name, "cannot make network namespaces (\(error))") }
        defer { network.destroy() }
        var missing: [String] = []
        guard let shaper = scenario.shapers.first(where: { shaper in
            guard let why = network.unavailable(shaper) else { return true }
            missing.append(why)
            return false
        }) else { return FaultRun.skip(scenario.name, missing.joined(separator: "; ")) }

        let base = Harness.tempDir("netns")
        defer { try? FileManager.default.removeItem(atPath: base) }
        var intervals = FaultSuiteTests.intervals
        intervals["master", default: [:]].merge(scenario.masterIntervals) { $1 }
        let address = ClusterNetwork.addresses
        // The master alone on its network: the port is free there.
        let (master, _) = try Harness.startMaster(.init(name: "master-node", type: "master", port: Self.port, master: address[0], bindAddr: address[0],
                                                        intervals: intervals),
                                                  in: base, launcher: network.launcher(0), portSource: { Self.port })
        let workers = try (1...2).map { i in
            try Node(home: try Harness.makeHome(.init(name: "worker\(i)", port: Self.port, master: address[0], bindAddr: address[i], intervals: intervals), in: base),
                     launcher: network.launcher(i))
        }
        let cluster = try FaultCluster(master: master, workers: workers)
        defer { cluster.stop() }
        #expect(waitUntil(20) { master.log.contains("Connection from ('\(address[1])',") && master.log.contains("Connection from ('\(address[2])',") },
                "each worker connects from its own address:\n\(master.log.suffix(2000))")

        var restartOffset = 0
        try FaultRun.run(scenario.name, seconds: scenario.seconds, explained: NetnsScenario.explained, cluster: cluster) { cluster in
            switch scenario.kind {
            case .lossyThenPartition(let lossy, let partition):
                for w in 1...2 { try network.set(.lossy, worker: w, with: shaper) }
                Thread.sleep(forTimeInterval: lossy)
                for w in 1...2 { try network.set(.partitioned, worker: w, with: shaper) }
                Thread.sleep(forTimeInterval: partition)
                for w in 1...2 { try network.set(.clear, worker: w, with: shaper) }
            case .workerRestartedWhileItsSessionIsHalfOpen(let seconds):
                let port = try #require(Self.lastConnectionPort(cluster.master.log, from: address[1]), "worker1's connection in the master's log")
                try network.set(.connectionCut(port: port), worker: 1, with: shaper)
                cluster.workers[0].kill9()
                restartOffset = cluster.workers[0].log.utf8.count
                cluster.workers[0] = try Node(home: cluster.workers[0].home, launcher: network.launcher(1))
                Thread.sleep(forTimeInterval: seconds)
                try network.set(.clear, worker: 1, with: shaper)
            }
        }
        if case .workerRestartedWhileItsSessionIsHalfOpen = scenario.kind {
            // Nothing but the new hello's probe could end the dead session within the scenario, and the
            // restarted worker's first hello is accepted: it is not refused even once for the dead session.
            #expect(cluster.master.log.contains("The connection that held the name worker1 did not answer"),
                    "the master replaced the half-open session:\n\(cluster.master.log.suffix(3000))")
            let restarted = FaultChecks.after(cluster.workers[0].log, restartOffset)
            #expect(FaultChecks.connectionEvents(restarted).first?.contains("Successfully connected to master.") == true,
                    "the restarted worker's first connection:\n\(FaultChecks.connectionEvents(restarted).prefix(5).joined(separator: "\n"))")
        }
    }
}
