import Synchronization

/// The tasks of one connection: its request handlers and the work they start (an integrity check, an
/// agent-info round, a relayed reply). None outlives the connection: `cancelAndWait()` cancels them
/// and waits for each to end, and the link calls it when the connection closes.
///
/// `SessionTasks.live` counts the tasks of every connection of the process; with no connection left it
/// is zero, which the master logs (`Live session tasks: N`, DEBUG2) after each session ends.
public final class SessionTasks: Sendable {
    public static let live = Atomic<Int>(0)

    private struct State {
        var tasks: [Int: Task<Void, Never>] = [:]
        var next = 0
        var closed = false
    }
    private let state = Mutex(State())

    public init() {}

    /// Runs `job`, counted as a live task of the process.
    func counted(_ job: @Sendable () async -> Void) async {
        Self.live.add(1, ordering: .relaxed)
        defer { Self.live.subtract(1, ordering: .relaxed) }
        await job()
    }

    /// Starts `body` as a task of this connection. After the connection closed, nothing is started.
    public func spawn(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { s in
            guard !s.closed else { return }
            let key = s.next
            s.next += 1
            s.tasks[key] = Task {
                await self.counted(body)
                self.state.withLock { _ = $0.tasks.removeValue(forKey: key) }
            }
        }
    }

    /// Tasks started and not yet ended.
    public var count: Int { state.withLock { $0.tasks.count } }

    /// Cancels every task and waits until each has ended; later `spawn`s start nothing.
    public func cancelAndWait() async {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.closed = true
            return Array(s.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}
