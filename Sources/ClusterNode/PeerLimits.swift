import Common

/// What one peer can make this node hold (DESIGN.md "Bounded peers"). A peer that goes past a limit gets
/// an `err` reply (`Error 3050 - Payload too large. Possible DoS attempt: <limit> …`) and a log line that
/// names the peer and the limit; what it already sent within the limits is kept.
///
/// 4.8.1 holds none of these: one peer with the cluster key could make a master allocate 256 MiB per
/// `new_str`, keep a descriptor per `new_file` for ever, or name any file under `queue/cluster/`.
public struct PeerLimits: Sendable, Equatable {
    /// Long strings announced with `new_str` and not yet consumed (`maxOutstandingStrings`).
    public var maxOutstandingStrings: Int
    /// Bytes those strings may announce together (`maxOutstandingStringBytes`); each one is also held
    /// to the 256 MiB message size. Memory grows with the bytes that really arrive, not with the size
    /// a peer announces.
    public var maxOutstandingStringBytes: Int
    /// Files being received at once, `new_file` without its `file_end` (`maxOpenFiles`).
    public var maxOpenFiles: Int
    /// Bytes one received file may hold (`maxFileBytes`: the package budget, twice `max_zip_size` plus
    /// 32 MiB, see `NodeContext.receiveBudget`).
    public var maxFileBytes: Int
    /// Requests of this peer handled at the same time (`maxConcurrentRequests`); the link reads its next
    /// frame when one of them completes, so a flood of requests waits in the peer's socket.
    public var maxConcurrentRequests: Int

    public static let defaultMaxOutstandingStrings = 128
    public static let defaultMaxOutstandingStringBytes = 512 << 20
    public static let defaultMaxOpenFiles = 8
    public static let defaultMaxConcurrentRequests = 64

    public init(maxFileBytes: Int,
                maxOutstandingStrings: Int = PeerLimits.defaultMaxOutstandingStrings,
                maxOutstandingStringBytes: Int = PeerLimits.defaultMaxOutstandingStringBytes,
                maxOpenFiles: Int = PeerLimits.defaultMaxOpenFiles,
                maxConcurrentRequests: Int = PeerLimits.defaultMaxConcurrentRequests) {
        self.maxFileBytes = maxFileBytes
        self.maxOutstandingStrings = maxOutstandingStrings
        self.maxOutstandingStringBytes = maxOutstandingStringBytes
        self.maxOpenFiles = maxOpenFiles
        self.maxConcurrentRequests = maxConcurrentRequests
    }

    /// The refusal a peer is told about when it exceeds `limit`.
    static func refusal(_ limit: String, _ detail: String) -> WazuhException {
        .cluster(3050, "\(limit) reached (\(detail))")
    }
}

/// Payloads at least this long are encrypted and decrypted on the CPU pool instead of the task reading
/// or writing the link. Measured with `wire-bench` on this machine: Fernet runs at ~450 MB/s encrypting
/// and ~880 MB/s decrypting, so 2 MiB costs 2-5 ms inline (no later frame of that link waits longer than
/// that), while the hop to the pool costs ~20 µs. Our file chunks (1 MiB) stay inline; larger payloads
/// (4.8.1's 5 MiB `file_upd`, long-string chunks) go to the pool only when a thread is free
/// (`CPUPool.offload`), because a pool job may be waiting for exactly those bytes (a package staged while
/// it arrives, a producer waiting for its chunks to go out).
public enum FernetOffload {
    public static let threshold = 2 << 20
}
