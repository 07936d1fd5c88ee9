import Common

/// The worker's connection to its master (PROTOCOL.md §3.1, §3.4): `hello` on every new connection,
/// and the wait before the next attempt after a failure or a loss (`ReconnectBackoff`), with 4.8.1's log
/// lines. Every connection starts the tasks from scratch; this machine only outlives connections to
/// carry the backoff.
public struct WorkerConnection: Sendable {
    /// Which tag a line goes under: `Cluster` (the connection loop) or `Worker <name>`.
    public enum Tag: Equatable, Sendable { case cluster, worker }
    public struct Line: Equatable, Sendable {
        public var tag: Tag
        public var level: LogLevel
        public var text: String
    }
    public enum ConnectFailure: Equatable, Sendable {
        case refused, timedOut
        case other(String)
    }

    public let nodeName: String
    public let clusterName: String
    public private(set) var backoff: ReconnectBackoff
    public private(set) var helloAccepted = false

    public init(nodeName: String, clusterName: String, connectionRetry: Double) {
        self.nodeName = nodeName
        self.clusterName = clusterName
        backoff = ReconnectBackoff(ceiling: connectionRetry)
    }

    /// The TCP connection is up: the `hello` to send.
    public mutating func onConnected() -> (command: String, payload: [UInt8]) {
        helloAccepted = false
        return ("hello", Array("\(nodeName) \(clusterName) worker \(NodeContext.version)".utf8))
    }

    /// The master's answer to `hello`: accepted (start the tasks) or the line and a close.
    public mutating func onHelloResponse(_ outcome: RequestOutcome) -> (accepted: Bool, line: Line) {
        switch outcome {
        case .success(.ok):
            helloAccepted = true
            return (true, Line(tag: .worker, level: .info, text: "Successfully connected to master."))
        case .success(let response):
            return (false, Line(tag: .worker, level: .error, text: "Could not connect to master: \(response.text)."))
        case .failure(let e):
            return (false, Line(tag: .worker, level: .error, text: "Could not connect to master: \(e.description)."))
        }
    }

    /// The connection's session ended; `helloAccepted` says whether its `hello` was accepted (the shell
    /// ran `onHelloResponse` on the session's copy of this machine).
    public mutating func onSessionEnded(helloAccepted accepted: Bool) {
        helloAccepted = accepted
    }

    /// The attempt failed before a connection existed: how long to wait, and the line.
    public mutating func onConnectFailed(_ failure: ConnectFailure) -> (delay: Double, line: Line) {
        let delay = backoff.attemptFailed()
        let wait = NodeContext.secondsText(delay)
        let text: String
        switch failure {
        case .refused: text = "Could not connect to master. Trying again in \(wait) seconds."
        case .timedOut: text = "Could not connect to master: connection timed out. Trying again in \(wait) seconds."
        case .other(let e): text = "Could not connect to master: \(e). Trying again in \(wait) seconds."
        }
        return (delay, Line(tag: .worker, level: .error, text: text))
    }

    /// An established connection ended: how long to wait, and the line.
    public mutating func onLost() -> (delay: Double, line: Line) {
        let delay = backoff.connectionLost(wasConnected: helloAccepted)
        helloAccepted = false
        return (delay, Line(tag: .cluster, level: .info, text: "Connection with server has been lost. Reconnecting in \(NodeContext.secondsText(delay)) seconds."))
    }
}

/// Where a local-socket request is answered (LOCAL-DAPI-CONTROL.md §1.7), and what the local client is
/// told once a relayed one is answered by the master.
public enum LocalRelay {
    public enum Route: Equatable, Sendable {
        case answerHere
        case relayToMaster
        case refuse(WazuhException)
    }

    /// `get_nodes` / `get_health` are the master's to answer: a worker relays them while connected and
    /// refuses them (3023) otherwise; everything else of the local socket is answered where it arrives.
    public static func route(_ command: String, isMaster: Bool, masterConnected: Bool) -> Route {
        guard ["get_nodes", "get_health"].contains(command), !isMaster else { return .answerHere }
        return masterConnected ? .relayToMaster : .refuse(.cluster(3023))
    }

    /// The request the local client receives with the master's answer: `control_res` with the result,
    /// or `err` with the exception (4.8.1 lets the client time out on errors; we tell it).
    public static func delivery(_ outcome: RequestOutcome) -> (command: String, payload: [UInt8]) {
        switch outcome {
        case .success(.ok(let bytes)): return ("control_res", bytes)
        case .success(.err(let e)): return ("err", e.payload)
        case .success(let other): return ("err", WazuhException.cluster(3016, other.text).payload)
        case .failure(let e): return ("err", e.exception.payload)
        }
    }
}
