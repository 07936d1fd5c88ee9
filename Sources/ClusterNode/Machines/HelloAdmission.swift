import Common

/// The master's decision on a worker's `hello` (PROTOCOL.md §3.2), in 4.8.1's order with the 4.14.6
/// name pattern first. One thing differs on purpose: a name held by another connection is not refused
/// at once. That connection is probed (`echo-m`, which every worker answers with `ok-c`); if it does not
/// answer within `probeTimeout(requestTimeout:)` it is half-open (the worker's host lost it without a FIN) and the new
/// connection replaces it. 4.8.1 refuses the worker with 3028 until its keep-alive check drops the dead
/// session, up to `max_allowed_time_without_keepalive` + `check_worker_lastkeepalive` later.
public struct HelloAdmission: Sendable, Equatable {
    public enum Decision: Equatable, Sendable {
        /// Register the worker (and check its cluster and version next).
        case register
        /// The name is held: probe the holder, then call `onProbe`.
        case probeHolder
        case reject(WazuhException)
    }

    public let worker: String
    public let cluster: String
    public let nodeType: String
    public let version: String

    /// Parses the payload `<name> <cluster> <type> <version>`; a malformed one is its rejection.
    public static func parse(_ payload: [UInt8]) -> Result<HelloAdmission, WazuhException> {
        let fields = String(decoding: payload, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4 else {
            let what = fields.count < 4 ? "not enough values to unpack (expected 4, got \(fields.count))"
                                        : "too many values to unpack (expected 4)"
            return .failure(.internal(1000, what))
        }
        return .success(HelloAdmission(worker: fields[0], cluster: fields[1], nodeType: fields[2], version: fields[3]))
    }

    /// The checks before registering: name pattern, name taken, name of the master.
    public func decide(nameTaken: Bool, masterName: String) -> Decision {
        guard NodeName.isValid(worker) else { return .reject(.cluster(3060, worker)) }
        if nameTaken { return .probeHolder }
        if worker == masterName { return .reject(.cluster(3029)) }
        return .register
    }

    /// After probing the connection that holds the name: a live holder keeps it (3028), a silent one is
    /// replaced.
    public func onProbe(holderAnswered: Bool, masterName: String) -> Decision {
        if holderAnswered { return .reject(.cluster(3028, worker)) }
        if worker == masterName { return .reject(.cluster(3029)) }
        return .register
    }

    /// The checks after registering: same cluster, same version.
    public func afterRegistering(clusterName: String, masterVersion: String) -> WazuhException? {
        if cluster != clusterName { return .cluster(3030) }
        if version != masterVersion { return .cluster(3031) }
        return nil
    }

    /// The longest the holder of a name has to answer the probe.
    public static let probeCeiling = 3.0

    /// How long the holder of a name has to answer the probe: 3 s, and at most half the request timeout
    /// (`timeout_cluster_request`), so that the master decides before the new connection's `hello`,
    /// which the worker sends with the same timeout, times out. With a longer probe the first hello
    /// after a half-open session always timed out on the worker when that timeout was under 3 s, and
    /// only its next connection got in.
    public static func probeTimeout(requestTimeout: Double) -> Double { min(probeCeiling, requestTimeout / 2) }
}

/// Node names a master accepts in `hello` (4.14.6 hardening): `[A-Za-z0-9_-]+`.
public enum NodeName {
    public static func isValid(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }
}
