import Common

/// What the framework bridge answers for one request.
enum BridgeAnswer: Sendable, Equatable {
    /// The function's value, encoded by the framework's `WazuhJSONEncoder` (sent on as it is).
    case result([UInt8])
    /// A raised exception so encoded, its `dapi_errors` naming this node (sent on as it is).
    case exception([UInt8])
    /// The request names nothing the framework can run (a missing module or function): the text of a
    /// `dapi_err`, as 4.8.1 answers a callable it cannot import.
    case refused(String)
    /// The bridge's own failure: timeout (3021), an executor that ended or could not start, a node
    /// that is stopping.
    case failed(WazuhException)
}

/// The framework executors of a node as a state machine (the bridge's instance; `FrameworkBridge` is
/// its shell): `slots` persistent processes, each serving one request at a time, and a queue of the
/// requests waiting for one. Events in, directives out; no I/O and no clock. An executor is known by
/// its slot and a generation that grows with every process started in that slot, so that events of a
/// process already replaced are ignored.
struct FrameworkPool: Sendable {
    struct ExecutorID: Hashable, Sendable, CustomStringConvertible {
        let slot: Int
        let generation: Int
        var description: String { "\(slot).\(generation)" }
    }
    typealias JobID = UInt64

    enum SlotState: Equatable, Sendable {
        /// Started, not ready yet (the framework is being imported).
        case starting(ExecutorID)
        case idle(ExecutorID)
        case busy(ExecutorID, JobID)
        /// Killed by the bridge (timeout, a broken frame, stop); its end is awaited before another starts.
        case killed(ExecutorID)
        /// Its last starts failed; the next is due when the `.restart` timer fires.
        case waiting
        case stopped
    }

    enum Timer: Hashable, Sendable {
        case deadline(JobID)
        case restart(slot: Int)
    }

    enum Directive: Equatable, Sendable {
        case spawn(ExecutorID)
        case send(JobID, to: ExecutorID)
        /// SIGKILL (`graceful`: end of input and SIGTERM first, for the node's stop).
        case kill(ExecutorID, graceful: Bool)
        case answer(JobID, BridgeAnswer)
        case arm(Timer, after: Double)
        case cancel(Timer)
        case log(LogLevel, String)
    }

    struct Job: Sendable {
        let function: String
        let timeout: Double?
    }

    private(set) var slots: [SlotState]
    private var generations: [Int]
    /// Consecutive failed starts per slot (the restart delay doubles with each).
    private var startFailures: [Int]
    /// Slots whose process was killed before it became ready (its end counts as a failed start).
    private var killedStarting: Set<Int> = []
    /// What the log calls each slot's current process ("pid 1234").
    private var labels: [Int: String] = [:]
    private(set) var queue: [JobID] = []
    private var jobs: [JobID: Job] = [:]
    private(set) var stopping = false
    private(set) var started = false
    /// Why the last start failed (given to requests while no executor can start).
    private(set) var startProblem: String?
    /// The longest wait between two attempts to start an executor that keeps failing to.
    static let maxRestartDelay = 60.0

    init(slots: Int) {
        self.slots = Array(repeating: .stopped, count: max(1, slots))
        generations = Array(repeating: 0, count: max(1, slots))
        startFailures = Array(repeating: 0, count: max(1, slots))
    }

    /// No process of the pool is alive or awaited.
    var allStopped: Bool { slots.allSatisfy { $0 == .stopped } }

    func isCurrent(_ id: ExecutorID) -> Bool { generations[id.slot] == id.generation }

    // MARK: events

    /// Starts every executor (once; a pool never started starts with its first request).
    mutating func start() -> [Directive] {
        guard !started, !stopping else { return [] }
        started = true
        return (0..<slots.count).map { spawn($0) }
    }

    /// A request: run at once by an idle executor, else queued; bounded by `job.timeout` (nil: none)
    /// from now, queueing included, as 4.8.1 bounds the wait for its process pool.
    mutating func submit(_ id: JobID, _ job: Job) -> [Directive] {
        if stopping { return [.answer(id, .failed(.internal(1000, "the node is stopping; \(job.function) was not run")))] }
        var out = start()
        if slots.allSatisfy({ $0 == .waiting || $0 == .stopped }) {
            return [.answer(id, .failed(cannotStart(job.function)))]
        }
        jobs[id] = job
        queue.append(id)
        out += job.timeout.map { [.arm(.deadline(id), after: $0)] } ?? []
        out += dispatch()
        return out
    }

    /// The process of `id` was started with process id `pid` (for the log lines about it).
    mutating func spawned(_ id: ExecutorID, pid: Int32) {
        if isCurrent(id) { labels[id.slot] = "pid \(pid)" }
    }

    private func name(_ id: ExecutorID) -> String { isCurrent(id) ? labels[id.slot] ?? "\(id)" : "\(id)" }

    /// The executor imported the framework and waits for requests.
    mutating func ready(_ id: ExecutorID, info: String) -> [Directive] {
        guard slots[id.slot] == .starting(id) else { return [] }
        let recovered = startFailures[id.slot] > 0
        startFailures[id.slot] = 0
        if slots.allSatisfy({ $0 != .waiting }) { startProblem = nil }
        slots[id.slot] = .idle(id)
        return [.log(recovered ? .info : .debug, "Framework executor \(name(id)) ready: \(info)")] + dispatch()
    }

    /// The executor's answer to the request it runs.
    mutating func answered(_ id: ExecutorID, _ answer: BridgeAnswer) -> [Directive] {
        switch slots[id.slot] {
        case .busy(id, let job):
            slots[id.slot] = .idle(id)
            jobs[job] = nil
            return [.cancel(.deadline(job)), .answer(job, answer)] + dispatch()
        case .idle(id), .starting(id):
            return broken(id, "sent an answer while it ran no request")
        default:
            return []
        }
    }

    /// The executor broke the framing (an unknown frame, one larger than allowed): it is killed.
    mutating func broken(_ id: ExecutorID, _ problem: String) -> [Directive] {
        var out: [Directive] = []
        switch slots[id.slot] {
        case .busy(id, let job):
            let function = jobs.removeValue(forKey: job)?.function ?? "a request"
            out = [.cancel(.deadline(job)),
                   .answer(job, .failed(.internal(1000, "the framework executor (\(name(id))) running \(function) \(problem); it was replaced")))]
        case .starting(id):
            killedStarting.insert(id.slot)
        case .idle(id):
            break
        default:
            return []
        }
        slots[id.slot] = .killed(id)
        return out + [.log(.error, "Framework executor \(name(id)) \(problem): killing it."), .kill(id, graceful: false)]
    }

    /// The executor's process ended (`status`: "exit status 3", "signal 9 (SIGKILL)"), or could not
    /// be started at all.
    mutating func exited(_ id: ExecutorID, status: String) -> [Directive] {
        guard isCurrent(id) else { return [] }
        var out: [Directive] = []
        switch slots[id.slot] {
        case .busy(id, let job):
            let function = jobs.removeValue(forKey: job)?.function ?? "a request"
            out = [.cancel(.deadline(job)),
                   .answer(job, .failed(.internal(1000, "the framework executor (\(name(id))) running \(function) ended (\(status)) before answering; another was started"))),
                   .log(.error, "Framework executor \(name(id)) ended (\(status)) while running \(function); starting another.")]
        case .idle(id):
            out = [.log(.error, "Framework executor \(name(id)) ended (\(status)) while idle; starting another.")]
        case .killed(id) where !killedStarting.contains(id.slot) || stopping:
            break
        case .starting(id), .killed(id):
            killedStarting.remove(id.slot)
            if stopping { break }
            startFailures[id.slot] += 1
            startProblem = status
            let delay = min(Self.maxRestartDelay, Double(1 << min(startFailures[id.slot] - 1, 10)))
            slots[id.slot] = .waiting
            out = [.log(.error, "Framework executor \(name(id)) could not start (\(status)); trying again in \(NodeContext.secondsText(delay)) s."),
                   .arm(.restart(slot: id.slot), after: delay)]
            return out + failQueuedIfNoneCanStart()
        default:
            return []
        }
        if stopping {
            slots[id.slot] = .stopped
            return out
        }
        return out + [spawn(id.slot)] + dispatch()
    }

    mutating func timerFired(_ timer: Timer) -> [Directive] {
        switch timer {
        case .restart(let slot):
            guard slots[slot] == .waiting, !stopping else { return [] }
            return [spawn(slot)]
        case .deadline(let job):
            guard let info = jobs[job] else { return [] }
            let limit = info.timeout.map { " (\(NodeContext.secondsText($0)) s)" } ?? ""
            if let i = queue.firstIndex(of: job) {
                queue.remove(at: i)
                jobs[job] = nil
                return [.answer(job, .failed(.cluster(3021))),
                        .log(.warning, "\(info.function) waited for a framework executor longer than its timeout\(limit).")]
            }
            guard let slot = slots.firstIndex(where: { if case .busy(_, job) = $0 { return true }; return false }),
                  case .busy(let id, _) = slots[slot] else { return [] }
            jobs[job] = nil
            slots[slot] = .killed(id)
            return [.answer(job, .failed(.cluster(3021))),
                    .log(.warning, "Framework executor \(name(id)) ran \(info.function) longer than its timeout\(limit): killing it and starting another."),
                    .kill(id, graceful: false)]
        }
    }

    /// The node stops: requests still waiting are answered, every executor is ended.
    mutating func stop() -> [Directive] {
        stopping = true
        var out: [Directive] = []
        for job in queue {
            let function = jobs.removeValue(forKey: job)?.function ?? "a request"
            out += [.cancel(.deadline(job)), .answer(job, .failed(.internal(1000, "the node is stopping; \(function) was not run")))]
        }
        queue = []
        for slot in slots.indices {
            switch slots[slot] {
            case .busy(let id, let job):
                let function = jobs.removeValue(forKey: job)?.function ?? "a request"
                out += [.cancel(.deadline(job)), .answer(job, .failed(.internal(1000, "the node stopped while \(function) ran")))]
                slots[slot] = .killed(id)
                out.append(.kill(id, graceful: true))
            case .idle(let id), .starting(let id):
                slots[slot] = .killed(id)
                out.append(.kill(id, graceful: true))
            case .waiting:
                slots[slot] = .stopped
                out.append(.cancel(.restart(slot: slot)))
            case .killed, .stopped:
                break
            }
        }
        return out
    }

    // MARK: helpers

    private mutating func spawn(_ slot: Int) -> Directive {
        generations[slot] += 1
        labels[slot] = nil
        let id = ExecutorID(slot: slot, generation: generations[slot])
        slots[slot] = .starting(id)
        return .spawn(id)
    }

    /// Queued requests go to idle executors, oldest first.
    private mutating func dispatch() -> [Directive] {
        var out: [Directive] = []
        while !queue.isEmpty, let slot = slots.firstIndex(where: { if case .idle = $0 { return true }; return false }),
              case .idle(let id) = slots[slot] {
            let job = queue.removeFirst()
            slots[slot] = .busy(id, job)
            out.append(.send(job, to: id))
        }
        return out
    }

    private func cannotStart(_ function: String) -> WazuhException {
        .internal(1000, "no framework executor could start to run \(function)" + (startProblem.map { ": the last attempt ended with \($0) (see cluster.log)" } ?? ""))
    }

    /// While every slot waits to start again, a queued request would only wait for its timeout.
    private mutating func failQueuedIfNoneCanStart() -> [Directive] {
        guard slots.allSatisfy({ $0 == .waiting || $0 == .stopped }) else { return [] }
        var out: [Directive] = []
        for job in queue {
            let function = jobs.removeValue(forKey: job)?.function ?? "a request"
            out += [.cancel(.deadline(job)), .answer(job, .failed(cannotStart(function)))]
        }
        queue = []
        return out
    }
}
