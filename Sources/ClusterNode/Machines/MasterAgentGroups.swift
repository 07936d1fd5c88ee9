import Common

/// The master's `Local agent-groups` task (PROTOCOL.md §7): after `agent_group_start_delay`, every
/// `sync_agent_groups` seconds, read the agents whose groups changed (with the global hash) and send
/// them to every connected worker; skip the read while no worker is connected.
public struct MasterAgentGroups: Sendable {
    public enum Job: Equatable, Sendable { case collect }
    public enum Timer: Hashable, Sendable { case round }
    public typealias Output = Directive<Job, Timer>
    static let subtag = "Local agent-groups"

    public let startDelay: Double
    public let interval: Double
    private var roundStart: Double = 0

    public init(startDelay: Double, interval: Double) {
        self.startDelay = startDelay
        self.interval = interval
    }

    public func onStart() -> [Output] {
        [.log(.info, Self.subtag, "Sleeping \(NodeContext.secondsText(startDelay))s before starting the agent-groups task, waiting for the workers connection."),
         .arm(.round, after: startDelay)]
    }

    /// A round is due; `connectedWorkers` are the workers whose hello was accepted.
    public mutating func onTimer(_ timer: Timer, connectedWorkers: [String], now: Double) -> [Output] {
        roundStart = now
        guard !connectedWorkers.isEmpty else {
            return [.log(.info, Self.subtag, "Starting."), .log(.info, Self.subtag, "No clients connected. Skipping."), .arm(.round, after: interval)]
        }
        return [.log(.info, Self.subtag, "Starting."), .run(.collect)]
    }

    /// The changed agents were read (`chunks` of them) or the read failed: the workers to send them to,
    /// and the directives.
    public mutating func onCollected(_ result: Result<Int, CollectFailure>, connectedWorkers: [String], now: Double) -> (sendTo: [String], directives: [Output]) {
        let took = WorkerIntegrity.seconds(now - roundStart)
        switch result {
        case .failure(let e):
            return ([], [.log(.error, Self.subtag, "Error getting agent-groups from WDB: \(e.text)"), .arm(.round, after: interval)])
        case .success(let chunks):
            return (chunks > 0 ? connectedWorkers : [],
                    [.log(.debug, Self.subtag, "Obtained \(chunks) chunks of data in \(took)."),
                     .log(.info, Self.subtag, "Finished in \(took)."), .arm(.round, after: interval)])
        }
    }

    public struct CollectFailure: Error, Equatable, Sendable {
        public var text: String
        public init(_ text: String) { self.text = text }
    }
}
