import Common

/// The master's integrity machines, one per connected worker, each owned by the connection (session)
/// whose `hello` was accepted last under that worker's name (PROTOCOL.md §5.5), with the master-wide
/// cycle of grants.
///
/// Why the owner: events of a worker's earlier connection can come after that connection ended. A
/// half-open session replaced by a new connection, or a closed one whose comparison or package ends
/// late, would otherwise reach the new session's machine by name: take its lock for a check whose
/// receive timer lives in the dead session (the worker refused for `max_locked_integrity_time`, 1000 s),
/// or end its check with the old comparison. Here an event of a session that no longer owns the
/// worker's machine is not applied (`nil`), and it never creates a machine either: a machine exists from
/// the moment a session is accepted (`adopt`) until that session ends (`release`).
public struct MasterIntegrityTable: Sendable {
    /// A connection, numbered by the master as it accepts them.
    public typealias Session = UInt64
    public typealias Output = MasterIntegrityTask.Output

    public let options: InternalOptions
    public private(set) var cycle = IntegrityCycle()
    private var machines: [String: (session: Session, task: MasterIntegrityTask)] = [:]

    public init(options: InternalOptions) { self.options = options }

    /// `session`'s `hello` as `worker` was accepted: it owns a fresh machine from now on. A previous
    /// owner's machine ends without effects here (that session is being closed; its own timers go with
    /// it), and the worker may be granted again in this cycle.
    public mutating func adopt(_ worker: String, session: Session) {
        machines[worker] = (session, MasterIntegrityTask(worker: worker, options: options))
        cycle.grantedThisCycle.remove(worker)
    }

    /// Whether `session` owns `worker`'s machine.
    public func owns(_ worker: String, session: Session) -> Bool { machines[worker]?.session == session }

    /// Runs `event` on `worker`'s machine if `session` owns it; nil for a session that does not (an
    /// earlier connection of the worker, or one that ended).
    public mutating func run<R>(_ worker: String, session: Session, _ event: (inout MasterIntegrityTask, inout IntegrityCycle) -> R) -> R? {
        guard var entry = machines[worker], entry.session == session else { return nil }
        let result = event(&entry.task, &cycle)
        machines[worker] = entry
        return result
    }

    /// `session` ended: its machine, if it still owns one, ends (the directives cancel what it waited
    /// for) and the worker leaves the cycle's grants. A session that no longer owns it changes nothing.
    public mutating func release(_ worker: String, session: Session) -> [Output] {
        guard var entry = machines[worker], entry.session == session else { return [] }
        machines[worker] = nil
        cycle.grantedThisCycle.remove(worker)
        return entry.task.onDisconnect()
    }

    /// A `Local integrity` round installed a new snapshot: a new cycle of grants.
    public mutating func onSnapshot() { cycle.onSnapshot() }

    /// The machine of `worker`'s current session, if one is connected.
    public func machine(_ worker: String) -> MasterIntegrityTask? { machines[worker]?.task }

    /// The workers that have a machine.
    public var workers: [String] { machines.keys.sorted() }
}
