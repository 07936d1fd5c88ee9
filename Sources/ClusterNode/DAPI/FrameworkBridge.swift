import Common
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The framework bridge (clusterd(8) "FRAMEWORK BRIDGE"): the functions clusterd does not serve run
/// in the node's Wazuh framework, in persistent executor processes of our own script
/// (`FrameworkExecutorScript`), as 4.8.1's clusterd runs them in its process pool. This is the shell of
/// `FrameworkPool`: it starts and reaps the processes, moves frames through their pipes on one event
/// loop of the node (non-blocking reads, no thread held), arms the timers, and logs what the machine
/// and the executors' stderr say.
final class FrameworkBridge: Sendable {
    let installation: FrameworkInstallation
    /// Everything of the bridge happens on this loop: the pipes' channels, the timers, the machine.
    let loop: EventLoop
    private let log: ClusterLog
    private let tag: String
    private let settings: [UInt8]
    private let state: Mutex<State>

    /// An answer larger than this ends its executor (4.8.1 has no limit; a bound keeps one request from
    /// holding the node's memory).
    static let maxAnswerBytes = 512 << 20
    /// Longer executor output lines are cut.
    static let maxLineLength = 4096
    /// Executor output logged: a burst of this many lines, then this many a second.
    static let lineBurst = 200, linesPerSecond = 50
    /// Seconds between SIGTERM (or an executor closing its answers) and SIGKILL.
    static let killGrace = 2.0
    /// How long an executor's last stderr lines may trail its exit before the exit is handled.
    static let stderrTrail = TimeAmount.milliseconds(300)

    private struct Running {
        let process: FrameworkProcess
        var channel: Channel?
        var errors: Channel?
        var errorsEnded = false
        var status: String?
        /// When SIGTERM was sent or the answers pipe closed (SIGKILL follows after `killGrace`).
        var endingSince: NIODeadline?
        var sigkilled = false
        var reaping = false
        var levels = StderrLevels()
    }

    private struct State {
        var pool: FrameworkPool
        var jobs: [FrameworkPool.JobID: (promise: EventLoopPromise<BridgeAnswer>, body: [UInt8])] = [:]
        var running: [FrameworkPool.ExecutorID: Running] = [:]
        var timers: [FrameworkPool.Timer: Scheduled<Void>] = [:]
        var nextJob: FrameworkPool.JobID = 1
        var budget = LineBudget(burst: FrameworkBridge.lineBurst, perSecond: FrameworkBridge.linesPerSecond)
        var stopWaiters: [EventLoopPromise<Void>] = []
        /// A notice of dropped output lines is due.
        var noticeArmed = false
    }

    init(installation: FrameworkInstallation, nodeName: String, isMaster: Bool, log: ClusterLog, loop: EventLoop) {
        self.installation = installation
        self.loop = loop
        self.log = log
        tag = isMaster ? "Master" : "Worker \(nodeName)"
        let settings = JSONObject([
            ("parent", .int(Int64(getpid()))), ("path", installation.path.map { .string($0) } ?? .null), ("node", .string(nodeName)),
            ("log_level", .string(log.isEnabled(.debug) ? "DEBUG" : "INFO")), ("logfile", "WAZUH_HOME/logs/cluster.log"),
        ])
        self.settings = PythonJSONEncoder().encodeBytes(.object(settings))
        state = Mutex(State(pool: FrameworkPool(slots: installation.processes)))
    }

    /// Starts the executors (they import the framework while the node starts).
    func start() {
        handle { $0.start() }
    }

    /// Runs a request body (the DAPI request JSON) in an executor: at once if one is idle, else when one
    /// is; `timeout` seconds at most from now (nil: no limit).
    func run(_ body: [UInt8], function: String, timeout: Double?) async -> BridgeAnswer {
        let promise = loop.makePromise(of: BridgeAnswer.self)
        loop.execute {
            let job = self.state.withLock { s -> FrameworkPool.JobID in
                defer { s.nextJob += 1 }
                s.jobs[s.nextJob] = (promise, body)
                return s.nextJob
            }
            self.handle { $0.submit(job, .init(function: function, timeout: timeout)) }
        }
        return (try? await promise.futureResult.get()) ?? .failed(.internal(1000, "the framework bridge stopped before \(function) ran"))
    }

    /// Answers what still waits and ends every executor (SIGTERM, SIGKILL after `killGrace`); returns
    /// once all of them are reaped.
    func shutdown() async {
        let done = loop.makePromise(of: Void.self)
        loop.execute {
            self.state.withLock { $0.stopWaiters.append(done) }
            self.handle { $0.stop() }
        }
        try? await done.futureResult.get()
    }

    /// The process ids of the executors alive now, by slot.
    var pids: [Int32] {
        state.withLock { s in s.running.sorted { $0.key.slot < $1.key.slot }.filter { $0.value.status == nil }.map(\.value.process.pid) }
    }

    // MARK: the machine

    private func handle(_ event: @escaping @Sendable (inout FrameworkPool) -> [FrameworkPool.Directive]) {
        guard loop.inEventLoop else {
            loop.execute { self.handle(event) }
            return
        }
        let directives = state.withLock { event(&$0.pool) }
        for d in directives { perform(d) }
        let waiters = state.withLock { s -> [EventLoopPromise<Void>] in
            guard s.pool.stopping, s.pool.allStopped, s.running.isEmpty else { return [] }
            defer { s.stopWaiters = [] }
            return s.stopWaiters
        }
        for w in waiters { w.succeed() }
    }

    private func perform(_ directive: FrameworkPool.Directive) {
        switch directive {
        case .spawn(let id):
            spawn(id)
        case .send(let job, let id):
            let (body, channel) = state.withLock { s -> ([UInt8]?, Channel?) in
                let body = s.jobs[job]?.body
                s.jobs[job]?.body = []
                return (body, s.running[id]?.channel)
            }
            guard let body, let channel else {
                handle { $0.broken(id, "had no pipe to take a request") }
                return
            }
            channel.writeAndFlush(ExecutorFrame.outgoing(body, allocator: channel.allocator), promise: nil)
        case .kill(let id, let graceful):
            guard let pid = state.withLock({ s -> pid_t? in
                guard s.running[id] != nil, s.running[id]?.status == nil else { return nil }
                if graceful { s.running[id]?.endingSince = .now() } else { s.running[id]?.sigkilled = true }
                return s.running[id]?.process.pid
            }) else { return }
            kill(pid, graceful ? SIGTERM : SIGKILL)
            reap(id)
        case .answer(let job, let answer):
            state.withLock { $0.jobs.removeValue(forKey: job) }?.promise.succeed(answer)
        case .arm(let timer, let seconds):
            let scheduled = loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
                self.state.withLock { _ = $0.timers.removeValue(forKey: timer) }
                self.handle { $0.timerFired(timer) }
            }
            state.withLock { $0.timers[timer] = scheduled }
        case .cancel(let timer):
            state.withLock { $0.timers.removeValue(forKey: timer) }?.cancel()
        case .log(let level, let text):
            log.log(level, tag: tag, subtag: "D API", text)
        }
    }

    // MARK: processes

    private func spawn(_ id: FrameworkPool.ExecutorID) {
        let process: FrameworkProcess
        do {
            process = try FrameworkProcess.spawn(python: installation.python)
        } catch {
            handle { $0.exited(id, status: error.description) }
            return
        }
        state.withLock { s in
            s.running[id] = Running(process: process)
            s.pool.spawned(id, pid: process.pid)
        }
        let maxBytes = Self.maxAnswerBytes
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                // Known before anything is read from it: a request may follow the ready frame at once.
                self.state.withLock { $0.running[id]?.channel = channel }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(ExecutorFrameDecoder(maxBytes: maxBytes)), ExecutorAnswers(bridge: self, id: id),
                    ])
                }
            }
            .takingOwnershipOfDescriptors(input: process.output, output: process.input)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let script = Array(FrameworkExecutorScript.source.utf8)
                    channel.write(ExecutorFrame.outgoing(script, allocator: channel.allocator), promise: nil)
                    channel.writeAndFlush(ExecutorFrame.outgoing(self.settings, allocator: channel.allocator), promise: nil)
                case .failure(let error):
                    close(process.output)
                    close(process.input)
                    self.log.error(tag: self.tag, subtag: "D API", "Cannot read the pipes of framework executor pid \(process.pid): \(error)")
                    self.state.withLock { $0.running[id]?.sigkilled = true }
                    kill(process.pid, SIGKILL)
                    self.reap(id)
                }
            }
        let lineLength = Self.maxLineLength
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(StderrLineDecoder(maxLength: lineLength)), ExecutorOutput(bridge: self, id: id),
                    ])
                }
            }
            .takingOwnershipOfDescriptor(input: process.errors)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let ended = self.state.withLock { s -> Bool in
                        guard s.running[id] != nil else { return true }
                        s.running[id]?.errors = channel
                        return false
                    }
                    if ended { channel.close(promise: nil) }
                case .failure:
                    close(process.errors)
                    self.errorsEnded(id)
                }
            }
    }

    /// Waits for the process of `id` to end without blocking the loop (a poll every 10 ms), sending
    /// SIGKILL `killGrace` seconds after SIGTERM or after it closed its answers. Idempotent.
    func reap(_ id: FrameworkPool.ExecutorID) {
        let first = state.withLock { s -> Bool in
            guard let r = s.running[id], r.status == nil, !r.reaping else { return false }
            s.running[id]?.reaping = true
            if r.endingSince == nil { s.running[id]?.endingSince = .now() }
            return true
        }
        if first { poll(id) }
    }

    private enum ReapStep { case gone, done, kill(pid_t), wait }

    private func poll(_ id: FrameworkPool.ExecutorID) {
        let now = NIODeadline.now()
        let grace = TimeAmount.nanoseconds(Int64(Self.killGrace * 1e9))
        let step = state.withLock { s -> ReapStep in
            guard var r = s.running[id], r.status == nil else { return .gone }
            defer { s.running[id] = r }
            if let status = FrameworkProcess.reap(r.process.pid) {
                r.status = status
                return .done
            }
            let since = r.endingSince ?? now
            if !r.sigkilled, now - since > grace {
                r.sigkilled = true
                return .kill(r.process.pid)
            }
            if now - since > grace + .seconds(30) {
                // Unkillable for now (uninterruptible sleep): the slot is freed; the kernel keeps the zombie.
                r.status = "did not end 30 s after SIGKILL"
                return .done
            }
            return .wait
        }
        switch step {
        case .gone:
            return
        case .done:
            finishWhenOutputEnds(id)
            return
        case .kill(let pid):
            kill(pid, SIGKILL)
        case .wait:
            break
        }
        loop.scheduleTask(in: .milliseconds(10)) { self.poll(id) }
    }

    /// The exit is handled once the executor's last stderr lines are logged (or `stderrTrail` later).
    private func finishWhenOutputEnds(_ id: FrameworkPool.ExecutorID) {
        if state.withLock({ $0.running[id]?.errorsEnded ?? true }) {
            finish(id)
        } else {
            loop.scheduleTask(in: Self.stderrTrail) { self.finish(id) }
        }
    }

    private func finish(_ id: FrameworkPool.ExecutorID) {
        guard let r = state.withLock({ s -> Running? in
            guard let r = s.running[id], r.status != nil else { return nil }
            s.running[id] = nil
            return r
        }) else { return }
        r.channel?.close(promise: nil)
        r.errors?.close(promise: nil)
        let status = r.status ?? "ended"
        handle { $0.exited(id, status: status) }
    }

    func errorsEnded(_ id: FrameworkPool.ExecutorID) {
        let reaped = state.withLock { s -> Bool in
            s.running[id]?.errorsEnded = true
            return s.running[id]?.status != nil
        }
        if reaped { finish(id) }
    }

    // MARK: what the executors say

    func received(_ frame: ExecutorFrame, from id: FrameworkPool.ExecutorID) {
        switch frame.kind {
        case ExecutorFrame.ready:
            let info = Self.readyText(frame.payload)
            handle { $0.ready(id, info: info) }
        case ExecutorFrame.result:
            handle { $0.answered(id, .result(frame.payload)) }
        case ExecutorFrame.exception:
            handle { $0.answered(id, .exception(frame.payload)) }
        case ExecutorFrame.refused:
            handle { $0.answered(id, .refused(String(decoding: frame.payload, as: UTF8.self))) }
        case ExecutorFrame.unencodable:
            handle { $0.answered(id, .failed(.internal(1000, String(decoding: frame.payload, as: UTF8.self)))) }
        default:
            handle { $0.broken(id, "sent a frame of unknown kind \(frame.kind)") }
        }
    }

    func broke(_ id: FrameworkPool.ExecutorID, _ problem: String) {
        handle { $0.broken(id, problem) }
    }

    func line(_ text: String, from id: FrameworkPool.ExecutorID) {
        let (level, message, pid, admitted, dropped, armNotice) = state.withLock { s -> (LogLevel, String, String, Bool, Int, Bool) in
            let (level, message) = s.running[id]?.levels.classify(text) ?? StderrLevels().classifyOnce(text)
            let pid = s.running[id].map { "\($0.process.pid)" } ?? id.description
            let (admitted, dropped) = s.budget.admit(now: .now())
            let armNotice = !admitted && !s.noticeArmed
            if armNotice { s.noticeArmed = true }
            return (level, message, pid, admitted, dropped, armNotice)
        }
        if dropped > 0 { droppedNotice(dropped) }
        if admitted { log.log(level, tag: tag, subtag: "D API", "Framework executor \(pid): \(message)") }
        if armNotice {
            // Said within a second even if no line comes after the flood.
            loop.scheduleTask(in: .seconds(1)) {
                let dropped = self.state.withLock { s -> Int in
                    s.noticeArmed = false
                    return s.budget.takeDropped()
                }
                if dropped > 0 { self.droppedNotice(dropped) }
            }
        }
    }

    private func droppedNotice(_ count: Int) {
        log.warning(tag: tag, subtag: "D API",
                    "\(count) lines of framework executor output were not logged (more than \(Self.linesPerSecond) a second).")
    }
}
