import Common
import Foundation

/// Everything a running node shares between its tasks: configuration, options, log, key, paths, and
/// the CPU pool all blocking work runs on.
public final class NodeContext: Sendable {
    public let home: String
    public let config: ClusterConfig
    public let options: InternalOptions
    public let log: ClusterLog
    public let fernet: Fernet
    public let pool: CPUPool
    public static let version = "4.8.1"

    /// `pool`: the CPU pool (default: `process_pool_size` threads).
    public init(home: String, config: ClusterConfig, options: InternalOptions, log: ClusterLog, pool: CPUPool? = nil) throws {
        self.home = home
        self.config = config
        self.options = options
        self.log = log
        self.fernet = try Fernet(clusterKey: config.key)
        self.pool = pool ?? CPUPool(threads: options.processPoolSize)
    }

    public var clusterDir: String { home + "/queue/cluster" }

    /// The limits every node link holds its peer to.
    var peerLimits: PeerLimits { PeerLimits(maxFileBytes: receiveBudget) }

    /// Decompressed bytes a received package may hold (the zip-bomb guard). The sender bounds the
    /// *compressed* entries by `max_zip_size`; rules and lists are text that deflate several times over,
    /// and `files_metadata.json` is not counted by the sender at all, so the receiver allows twice the
    /// limit plus 32 MiB before it calls a package hostile.
    var receiveBudget: Int { options.maxZipSize * 2 + 32 << 20 }
    public var socketPath: String { clusterDir + "/c-internal.sock" }

    /// Creates `queue/cluster/<name>/` (0770) and empties it: per-peer temporary packages never outlive
    /// the connection they belong to.
    func resetPeerDirectory(_ name: String) {
        let dir = clusterDir + "/" + name
        let fm = FileManager.default
        if let entries = try? fm.contentsOfDirectory(atPath: dir) {
            for e in entries { try? fm.removeItem(atPath: dir + "/" + e) }
        }
        try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
    }

    /// Seconds as log lines print them: `10` for 10.0, `0.3` for 0.3 (Python's float text, whole numbers
    /// without their `.0`).
    public static func secondsText(_ seconds: Double) -> String {
        let text = PythonJSONEncoder.pythonFloat(seconds)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// The `%Y-%m-%dT%H:%M:%S.%fZ` UTC dates of health output.
    static func isoDate(_ date: Date?) -> String {
        guard let date else { return "n/a" }
        let t = date.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        let micros = Int(((t - Double(secs)) * 1_000_000).rounded(.down))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), micros)
    }
}
