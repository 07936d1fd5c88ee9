import Foundation

/// A master's and two workers' own network, as on real hosts: a network namespace per node, each with
/// `eth0` on its own address (10.213.0.1 the master, .2 and .3 the workers), the three joined by a bridge
/// in a fourth namespace, where the links can be made bad (`LinkShaper`). The names start with
/// `cdfault-<pid of this test process>-`, so that parallel runs never meet and what an aborted run left
/// behind can be told apart and removed (`removeLeftovers`). Needs root and `ip` (iproute2).
final class ClusterNetwork {
    static let prefix = "cdfault-"
    static let addresses = ["10.213.0.1", "10.213.0.2", "10.213.0.3"]
    /// The bridge's end of each node's link, in the bridge namespace.
    static let ports = ["vm", "vw1", "vw2"]
    static let ipPath = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let tcPath = ["/usr/sbin/tc", "/sbin/tc", "/usr/bin/tc"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let nftPath = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first { FileManager.default.isExecutableFile(atPath: $0) }

    let run: String
    var bridge: String { run + "-br" }
    /// The namespace of node `i`: 0 the master, 1 and 2 the workers.
    func namespace(_ i: Int) -> String { run + ["-m", "-w1", "-w2"][i] }
    var all: [String] { [bridge] + (0..<3).map(namespace) }
    private var states: [Int: LinkState] = [:]

    /// Why namespaces cannot be made here, or nil.
    static func unavailable() -> String? {
        if getuid() != 0 { return "not root" }
        if ipPath == nil { return "no ip(8) (iproute2)" }
        return nil
    }

    /// Makes the namespaces and links (after removing what aborted runs left); throws with the reason
    /// when the system refuses.
    init() throws {
        run = Self.prefix + "\(getpid())-" + String(UUID().uuidString.prefix(4)).lowercased()
        Self.removeLeftovers()
        do {
            for ns in all { try Self.ip(["netns", "add", ns]) }
            try Self.ip(["-n", bridge, "link", "add", "br0", "type", "bridge"])
            try Self.ip(["-n", bridge, "link", "set", "br0", "up"])
            for i in 0..<3 {
                let node = namespace(i), port = Self.ports[i]
                try Self.ip(["-n", bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node])
                try Self.ip(["-n", bridge, "link", "set", port, "master", "br0", "up"])
                try Self.ip(["-n", node, "addr", "add", Self.addresses[i] + "/24", "dev", "eth0"])
                try Self.ip(["-n", node, "link", "set", "eth0", "up"])
                try Self.ip(["-n", node, "link", "set", "lo", "up"])
            }
        } catch {
            destroy()
            throw error
        }
    }

    /// The launcher that runs a program in node `i`'s namespace. `ip netns exec` execs the program, so
    /// the process started is the program itself (its pid, its signals).
    func launcher(_ i: Int) -> [String] { [Self.ipPath!, "netns", "exec", namespace(i)] }

    /// Removes the namespaces (the processes still in them are killed first).
    func destroy() {
        for ns in all { Self.remove(ns) }
    }

    /// Namespaces of this suite whose test process is gone (an aborted run), with their processes.
    static func removeLeftovers() {
        let listed = (try? runProgram(ipPath!, ["netns", "list"]))?.out ?? ""
        for line in listed.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count).prefix { $0.isNumber }) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { remove(name) }
        }
    }

    private static func remove(_ ns: String) {
        let pids = (try? runProgram(ipPath!, ["netns", "pids", ns]))?.out ?? ""
        for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        _ = try? runProgram(ipPath!, ["netns", "del", ns])
    }

    struct CommandFailure: Error, CustomStringConvertible {
        let command: String
        /// What the program said (its stderr), or why it gave no answer.
        let why: String
        var description: String { "\(command): \(why)" }
    }

    @discardableResult
    static func execute(_ program: String, _ args: [String]) throws -> String {
        let result = try runProgram(program, args, limit: 20)
        guard let result, result.status == 0 else {
            let why = result.map { $0.err.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "did not finish within 20 s"
            throw CommandFailure(command: "\((program as NSString).lastPathComponent) \(args.joined(separator: " "))", why: why)
        }
        return result.out
    }

    static func ip(_ args: [String]) throws { try execute(ipPath!, args) }

    // MARK: bad links

    /// How a worker's link is made bad: `tc netem` on both ends of the link (delay with jitter, and
    /// loss), or, where the kernel has no netem, nftables rules in the bridge (loss only).
    enum LinkShaper: String { case netem, nftables }

    enum LinkState: Equatable {
        case clear
        /// netem: 100 ms ± 50 ms each way and 5 % loss; nftables: 5 % loss each way.
        case lossy
        /// 100 % loss both ways: the nodes see nothing of each other, neither a reset nor an error.
        case partitioned
        /// Only the worker's TCP connection from `port` is cut (every frame of it dropped, both ways),
        /// as when the worker's host dies: the master's end of it stays half-open. nftables only.
        case connectionCut(port: Int)
    }

    /// Why `shaper` cannot be used here, or nil (it is tried on a link, then taken off).
    func unavailable(_ shaper: LinkShaper) -> String? {
        switch shaper {
        case .netem:
            guard let tc = Self.tcPath else { return "no tc(8) (iproute2)" }
            do {
                try Self.execute(tc, ["-n", bridge, "qdisc", "add", "dev", Self.ports[1], "root", "netem", "delay", "1ms"])
                try Self.execute(tc, ["-n", bridge, "qdisc", "del", "dev", Self.ports[1], "root"])
                return nil
            } catch let failure as CommandFailure {
                return "no tc netem here (tc qdisc add … netem: \(failure.why))"
            } catch {
                return "no tc netem here (\(error))"
            }
        case .nftables:
            guard Self.nftPath != nil else { return "no nft(8) (nftables)" }
            do {
                try applyRules()
                return nil
            } catch let failure as CommandFailure {
                return "no nftables here (nft: \(failure.why))"
            } catch {
                return "no nftables here (\(error))"
            }
        }
    }

    /// Puts worker `worker`'s link (1 or 2) in `state`.
    func set(_ state: LinkState, worker: Int, with shaper: LinkShaper) throws {
        states[worker] = state
        switch shaper {
        case .netem:
            let tc = Self.tcPath!
            // Both directions: the bridge's end carries what goes to the worker, the worker's eth0 what
            // it sends.
            for (ns, dev) in [(bridge, Self.ports[worker]), (namespace(worker), "eth0")] {
                switch state {
                case .connectionCut: throw CommandFailure(command: "tc", why: "netem cannot cut one connection")
                case .clear: _ = try? Self.execute(tc, ["-n", ns, "qdisc", "del", "dev", dev, "root"])
                case .lossy: try Self.execute(tc, ["-n", ns, "qdisc", "replace", "dev", dev, "root", "netem", "delay", "100ms", "50ms", "loss", "5%"])
                case .partitioned: try Self.execute(tc, ["-n", ns, "qdisc", "replace", "dev", dev, "root", "netem", "loss", "100%"])
                }
            }
        case .nftables:
            try applyRules()
        }
    }

    /// The bridge's nftables table for the current states: frames to and from each bad port dropped.
    private func applyRules() throws {
        var rules: [String] = []
        for (worker, state) in states.sorted(by: { $0.key < $1.key }) {
            let port = Self.ports[worker]
            switch state {
            case .clear: break
            case .lossy: rules += ["iifname \"\(port)\" numgen random mod 100 < 5 drop", "oifname \"\(port)\" numgen random mod 100 < 5 drop"]
            case .partitioned: rules += ["iifname \"\(port)\" drop", "oifname \"\(port)\" drop"]
            case .connectionCut(let tcp):
                let address = Self.addresses[worker]
                rules += ["ip saddr \(address) tcp sport \(tcp) drop", "ip daddr \(address) tcp dport \(tcp) drop"]
            }
        }
        // Declaring the table first makes the delete succeed on the first run too.
        let text = """
        table bridge clusterd_faults
        delete table bridge clusterd_faults
        table bridge clusterd_faults {
            chain forward {
                type filter hook forward priority 0; policy accept;
        \(rules.map { "        " + $0 }.joined(separator: "\n"))
            }
        }

        """
        let file = NSTemporaryDirectory() + "\(run)-rules.nft"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        try Self.execute(Self.ipPath!, ["netns", "exec", bridge, Self.nftPath!, "-f", file])
    }
}
