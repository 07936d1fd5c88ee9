import Common

/// The worker's side of agent-groups (PROTOCOL.md §7): after each regular round it compares the
/// master's global hash with its own; after `agent_groups_mismatch_limit` mismatches in a row it asks
/// for everything once (`syn_w_g_c`). While that full resync is awaited (at most `timeout_agent_groups`
/// seconds), further mismatches are expected and not counted, so a slow master is not asked again and
/// again; the full resync, or the wait's end, starts the count over.
public struct WorkerAgentGroups: Sendable {
    public enum Timer: Hashable, Sendable { case fullResync }
    public typealias Output = Directive<NoJob, Timer>
    static let subtag = "Agent-groups recv"

    public let mismatchLimit: Int
    public let fullResyncTimeout: Double
    public private(set) var mismatches = 0
    public private(set) var awaitingFullResync = false

    public init(mismatchLimit: Int, fullResyncTimeout: Double) {
        self.mismatchLimit = max(1, mismatchLimit)
        self.fullResyncTimeout = fullResyncTimeout
    }

    /// A regular round's chunks were applied; `masterHash` came with the last chunk, `localHash` is the
    /// worker's after applying them.
    public mutating func onRoundApplied(masterHash: String?, localHash: String?) -> [Output] {
        if masterHash == localHash {
            mismatches = 0
            return [.log(.debug, Self.subtag, "The checksum of both databases match. Counter reset.")]
        }
        if awaitingFullResync {
            return [.log(.debug, Self.subtag, "Checksum comparison failed while the full agent-groups information is awaited; not counted.")]
        }
        mismatches += 1
        var out: [Output] = [
            .log(.debug, Self.subtag, "Checksum comparison failed (\(mismatches)/\(mismatchLimit))."),
            .log(.debug, Self.subtag, "The checksum of master (\(masterHash ?? "None")) and worker (\(localHash ?? "None")) are different."),
        ]
        if mismatches >= mismatchLimit {
            mismatches = 0
            awaitingFullResync = true
            out += [.request("syn_w_g_c", []), .arm(.fullResync, after: fullResyncTimeout),
                    .log(.info, Self.subtag, "Sent request to obtain all agent-groups information from the master node.")]
        }
        return out
    }

    /// The master's full information (`syn_g_m_w_c`) arrived.
    public mutating func onFullResyncReceived() -> [Output] {
        let wasAwaiting = awaitingFullResync
        awaitingFullResync = false
        mismatches = 0
        return wasAwaiting ? [.cancel(.fullResync)] : []
    }

    public mutating func onTimer(_ timer: Timer) -> [Output] {
        guard awaitingFullResync else { return [] }
        awaitingFullResync = false
        return [.log(.warning, Self.subtag, "The full agent-groups information did not arrive within \(NodeContext.secondsText(fullResyncTimeout))s; counting checksum mismatches again.")]
    }

    public mutating func onDisconnect() -> [Output] {
        defer { mismatches = 0; awaitingFullResync = false }
        return awaitingFullResync ? [.cancel(.fullResync)] : []
    }
}
