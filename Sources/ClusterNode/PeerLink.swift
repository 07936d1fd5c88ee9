import Common
import Foundation
import NIOCore
import Synchronization

/// One end of a cluster connection (node link or local socket). It sends requests and awaits their
/// responses, answers the transport commands itself (long strings, files, `echo`, `cancel_task`), and
/// hands every other request to `handler`. Requests are handled concurrently, up to
/// `limits.maxConcurrentRequests`, and each reply goes out when its handler returns: a slow handler never
/// delays a keep-alive (4.8.1 queues them one at a time). Every task a link starts belongs to it and
/// ends with it (`tasks`).
///
/// Payloads are encrypted and decrypted here, not in the channel codec on the event loop; those of at
/// least `FernetOffload.threshold` bytes on the CPU pool.
public actor PeerLink {
    public typealias Handler = @Sendable (WireMessage, PeerLink) async -> Reply
    private let outbound: NIOAsyncChannelOutboundWriter<OutboundMessage>
    private let fernet: Fernet?
    let pool: CPUPool
    nonisolated let eventLoop: any EventLoop
    private var table = RequestTable<PendingRequest>()
    private let handler: Handler
    private let requestTimeout: Double
    private var closed = false
    public nonisolated let limits: PeerLimits
    /// Long strings received with `new_str`/`str_upd` (PROTOCOL.md §4.1), by string ID.
    private var strings: [String: LongString] = [:]
    private var stringBytes = 0
    /// Files being received (nil: this link refuses file transfers, as the local socket does).
    private var files: FileReceiver?
    /// Task IDs the peer asked to cancel (`cancel_task`); a file sender checks them between chunks.
    private var interruptedTasks: Set<String> = []
    /// Node home; files sent and received live under it.
    let home: String?
    /// Commands accepted before `helloAccepted()` (nil: every command, as on the local socket).
    private var preHello: Set<String>?
    private let logger: @Sendable (LogLevel, String) -> Void
    /// Told of each file the peer starts sending, before any of its bytes arrive.
    private let onIncomingFile: (@Sendable (IncomingFile) -> Void)?
    public nonisolated let remote: String
    /// The tasks of this connection: request handlers and the work they start.
    public nonisolated let tasks = SessionTasks()

    struct LongString {
        var buffer: [UInt8]
        let size: Int
    }

    /// `fernet`: the cluster key (nil on the local socket). `home` and `fileDirectory`: the node home and
    /// the directory under it where this peer's files may land (nil refuses file transfers).
    /// `preHello`: the commands a peer may send before `helloAccepted()` (nil: all). `logger` receives the
    /// link's own log lines, tagged by the caller. `onIncomingFile` is called, in message order, when a
    /// file transfer starts, so that a consumer can follow the file while it grows.
    public init(outbound: NIOAsyncChannelOutboundWriter<OutboundMessage>, fernet: Fernet?, pool: CPUPool,
                eventLoop: any EventLoop, remote: String, requestTimeout: Double, limits: PeerLimits,
                home: String? = nil, fileDirectory: String? = nil, preHello: Set<String>? = nil,
                logger: @escaping @Sendable (LogLevel, String) -> Void = { _, _ in },
                onIncomingFile: (@Sendable (IncomingFile) -> Void)? = nil,
                handler: @escaping Handler) {
        self.outbound = outbound
        self.fernet = fernet
        self.pool = pool
        self.eventLoop = eventLoop
        self.onIncomingFile = onIncomingFile
        self.remote = remote
        self.requestTimeout = requestTimeout
        self.handler = handler
        self.home = home
        self.limits = limits
        self.files = home.map { FileReceiver(home: $0, directory: fileDirectory, maxOpenFiles: limits.maxOpenFiles, maxFileBytes: limits.maxFileBytes) }
        self.preHello = preHello
        self.logger = logger
    }

    /// The peer's `hello` was accepted: every command is served from now on, and its files may land in
    /// `fileDirectory` (relative to the home).
    public func helloAccepted(fileDirectory: String? = nil) {
        preHello = nil
        if let fileDirectory { files?.directory = fileDirectory }
    }

    // MARK: serving

    /// Reads the connection until it ends: decrypts each message, answers transport commands at once and
    /// runs the others concurrently (up to the limit). Returns when the peer closed the connection;
    /// throws its error otherwise. When it returns, the handlers still running have been cancelled and
    /// have ended.
    public nonisolated func serve(_ inbound: NIOAsyncChannelInboundStream<WireMessage>) async throws {
        let slots = RequestSlots(limits.maxConcurrentRequests)
        let tasks = self.tasks
        // A discarding group: a handler's task is freed as soon as it ends (a group that keeps finished
        // children until they are collected held ~40 KB per idle link).
        try await withThrowingDiscardingTaskGroup { group in
            defer { group.cancelAll() }
            for try await message in inbound {
                let plain = try await decrypt(message)
                guard let job = await accept(consume plain) else { continue }
                await slots.acquire()
                group.addTask {
                    defer { slots.release() }
                    await tasks.counted(job)
                }
            }
        }
    }

    private nonisolated func decrypt(_ message: WireMessage) async throws -> WireMessage {
        guard let fernet else { return message }
        var plain = message
        let token = message.payload
        do {
            if token.count >= FernetOffload.threshold {
                plain.payload = try await pool.offload { try fernet.decrypt(token) }
            } else {
                plain.payload = try fernet.decrypt(token)
            }
        } catch {
            throw WireError.decryptionFailed(reason: "\(error)")
        }
        return plain
    }

    /// One incoming message: a response resolves its request; a transport command is answered here; any
    /// other request comes back as the job that runs its handler and sends the reply.
    private func accept(_ message: consuming WireMessage) async -> (@Sendable () async -> Void)? {
        switch table.classify(message.counter) {
        case .response(let pending):
            let name = message.name
            switch name {
            case "ok": pending.resolve(.success(.ok(message.payload)))
            case "err": pending.resolve(.success(.err(WazuhException.parse(payload: message.payload))))
            default: pending.resolve(.success(.other(command: name, payload: message.payload)))
            }
            return nil
        case .lateResponse:
            return nil
        case .request:
            break
        }
        if let preHello, !preHello.contains(message.name) {
            logger(.warning, "Refused '\(message.name)' from \(remote) before its hello was accepted.")
            await reply(to: message, .errText("unknown command 'b'\(message.name)''"))
            return nil
        }
        let builtIn: Reply?
        switch message.name {
        case "new_str": builtIn = newString(message.payload)
        case "str_upd": builtIn = updateString(&message.payload)
        case "err_str": builtIn = errString(message.payload)
        case "echo": builtIn = .ok(message.payload)
        case "new_file" where files != nil, "file_upd" where files != nil, "file_end" where files != nil:
            builtIn = fileCommand(message)
        case "cancel_task": builtIn = cancelTask(message.payload)
        default: builtIn = nil
        }
        if let builtIn {
            await reply(to: message, builtIn)
            return nil
        }
        let handler = self.handler
        let message = copy message
        return { [self] in
            let answer = await handler(message, self)
            await self.reply(to: message, answer)
        }
    }

    private func reply(to message: WireMessage, _ reply: Reply) async {
        if case .reply(let command, let payload) = reply {
            try? await send(counter: message.counter, command: command, payload: payload)
        }
    }

    // MARK: requests

    /// Sends a request and waits up to the request timeout for its response.
    public func request(_ command: String, _ payload: [UInt8] = [], timeout: Double? = nil) async throws -> Response {
        let pending = try await start(command, payload, timeout: timeout)
        return try await finish(pending)
    }

    /// A request written and waiting for its response.
    struct InFlight {
        let pending: PendingRequest
        let counter: UInt32
    }

    /// Writes a request without waiting for its response (`finish` waits): requests whose order the peer
    /// keeps (frames are handled in the order they arrive) can go out back to back.
    private func start(_ command: String, _ payload: [UInt8], timeout: Double? = nil) async throws -> InFlight {
        if closed { throw LinkError.closed }
        // A bad name is the caller's error; caught here it cannot take the whole connection down.
        _ = try CommandField(name: command)
        let pending = PendingRequest()
        let counter = table.register(pending)
        let limit = timeout ?? requestTimeout
        // Armed on the channel's event loop and cancelled when the response comes, so a timer lives only
        // as long as its request.
        pending.arm(eventLoop.scheduleTask(in: .nanoseconds(Int64(limit * 1e9))) {
            pending.resolve(.failure(LinkError.timeout(command: command)))
        })
        do {
            try await write(counter: counter, command: command, payload: payload)
        } catch {
            pending.resolve(.failure(LinkError.closed))
        }
        return InFlight(pending: pending, counter: counter)
    }

    private func finish(_ request: InFlight) async throws -> Response {
        let result = await request.pending.result()
        if case .failure(LinkError.timeout) = result { _ = table.timeOut(request.counter) }
        return try result.get()
    }

    public func request(_ command: String, text: String, timeout: Double? = nil) async throws -> Response {
        try await request(command, Array(text.utf8), timeout: timeout)
    }

    /// Sends a message that is not a request (a reply, or a fire-and-forget request whose answer is ignored).
    public func send(counter: UInt32, command: String, payload: [UInt8]) async throws {
        _ = try CommandField(name: command)
        try await write(counter: counter, command: command, payload: payload)
    }

    private func write(counter: UInt32, command: String, payload: [UInt8]) async throws {
        var message = OutboundMessage(counter: counter, command: command, payload: payload)
        if let fernet {
            let token = payload.count >= FernetOffload.threshold ? try await pool.offload { fernet.encrypt(payload) } : fernet.encrypt(payload)
            message = OutboundMessage(counter: counter, command: command, encryptedPayload: token, plaintextLength: payload.count)
        }
        try await outbound.write(message)
    }

    /// Called when the connection is gone: every waiting request fails, received strings and files are
    /// dropped, and the connection's tasks are cancelled and awaited.
    public func close() async {
        closed = true
        for pending in table.drain() { pending.resolve(.failure(LinkError.closed)) }
        strings.removeAll()
        stringBytes = 0
        files?.abandonAll()
        await tasks.cancelAndWait()
    }

    // MARK: long strings

    private func newString(_ payload: [UInt8]) -> Reply {
        guard let size = Int(String(decoding: payload, as: UTF8.self)), size >= 0 else {
            return .err(.internal(1000, "invalid literal for int(): \(String(decoding: payload, as: UTF8.self))"))
        }
        guard size <= WireLimits.maxMessageSize else {
            return .reply(command: "error", payload: Array("Requested size exceeds maximum allowed limit".utf8))
        }
        guard strings.count < limits.maxOutstandingStrings else {
            return refuse("maxOutstandingStrings", "\(limits.maxOutstandingStrings) strings not yet consumed")
        }
        guard stringBytes + size <= limits.maxOutstandingStringBytes else {
            return refuse("maxOutstandingStringBytes", "\(stringBytes) bytes announced, \(size) more asked, limit \(limits.maxOutstandingStringBytes)")
        }
        var id: String
        repeat { id = String(UInt32.random(in: 0...UInt32.max)) } while strings[id] != nil
        // Room for the bytes comes as they arrive: an announced size costs nothing until it is sent.
        strings[id] = LongString(buffer: [], size: size)
        stringBytes += size
        return .ok(id)
    }

    private func refuse(_ limit: String, _ detail: String) -> Reply {
        logger(.error, "Refused a request from \(remote): \(limit) reached (\(detail)).")
        return .err(PeerLimits.refusal(limit, detail))
    }

    /// `payload` is the message's own, taken: a string that comes whole in one `str_upd` (most of them:
    /// up to 5 MB) keeps the decrypted payload's storage, its ID moved off the front in place, instead of
    /// a copy of it.
    private func updateString(_ payload: inout [UInt8]) -> Reply {
        guard let space = payload.firstIndex(of: 0x20) else { return .err(.internal(1000, "str_upd without string ID")) }
        let id = String(decoding: payload[..<space], as: UTF8.self)
        guard var entry = strings.removeValue(forKey: id) else { return .err(.internal(1000, "'\(id)'")) }
        if entry.buffer.isEmpty, payload.count - (space + 1) == entry.size {
            payload.removeSubrange(...space)
            swap(&entry.buffer, &payload)
            strings[id] = entry
            return .ok("String updated")
        }
        let chunk = payload[(space + 1)...]
        let n = min(chunk.count, entry.size - entry.buffer.count)
        if n > 0 {
            if entry.buffer.isEmpty { entry.buffer.reserveCapacity(entry.size) }
            entry.buffer.append(contentsOf: chunk.prefix(n))
        }
        strings[id] = entry
        return .ok("String updated")
    }

    private func errString(_ payload: [UInt8]) -> Reply {
        let size = Int(String(decoding: payload, as: UTF8.self)) ?? -1
        if let (id, entry) = strings.first(where: { $0.value.size == size && $0.value.buffer.isEmpty }) {
            strings[id] = nil
            stringBytes -= entry.size
            return .ok(id)
        }
        return .ok("None")
    }

    /// Takes a received long string out of the table (the consumer frees it).
    public func takeString(_ id: String) -> [UInt8]? {
        guard let entry = strings.removeValue(forKey: id) else { return nil }
        stringBytes -= entry.size
        return entry.buffer
    }

    /// Sends `data` as a long string and then the request that points at it (`dapi_res "<prefix><id>"`),
    /// returning that request's response. Once `new_str` gave the id, the chunks and the pointer go out
    /// back to back: the peer handles them in the order they arrive (4.8.1 does too: `str_upd` is applied
    /// as it is read), so a string costs one round trip plus the bytes instead of one per frame. A refused
    /// chunk is the error, even if the pointer was accepted.
    public func sendString(_ data: [UInt8], then command: String, pointer: (String) -> [UInt8]) async throws -> Response {
        let created = try await request("new_str", text: String(data.count))
        guard case .ok(let idBytes) = created else { throw WazuhException.cluster(3016, created.text) }
        let id = String(decoding: idBytes, as: UTF8.self)
        let slice = WireLimits.requestChunk - idBytes.count - 1
        var chunks: [InFlight] = []
        var offset = 0
        repeat {
            let end = min(data.count, offset + slice)
            chunks.append(try await start("str_upd", idBytes + [0x20] + data[offset..<end]))
            offset = end
        } while offset < data.count
        let last = try await start(command, pointer(id))
        for c in chunks {
            if case .err(let e) = try await finish(c) {
                _ = try? await finish(last)
                throw e
            }
        }
        return try await finish(last)
    }

    // MARK: files

    private func fileCommand(_ message: WireMessage) -> Reply {
        let payload = message.payload
        let space = payload.firstIndex(of: 0x20)
        let relpath = String(decoding: payload[..<(space ?? payload.count)], as: UTF8.self)
        let rest = space.map { payload[($0 + 1)...] } ?? []
        do {
            switch message.name {
            case "new_file":
                let progress = try files!.start(relpath)
                onIncomingFile?(progress)
                return .reply(command: "ok ", payload: Array("Ready to receive new file".utf8))
            case "file_upd":
                try files!.update(relpath, rest)
                return .ok("File updated")
            default:
                try files!.finish(relpath, digest: rest)
                return .ok("File received correctly")
            }
        } catch FileReceiver.Failure.notAllowed {
            logger(.error, "Refused a file from \(remote) outside its directory \(files?.directory ?? "(none before hello)"): '\(relpath)'")
            return .errText("Write path not allowed")
        } catch FileReceiver.Failure.checksumMismatch {
            return .errText("File wasn't correctly received. Checksums aren't equal.")
        } catch FileReceiver.Failure.unknownFile(let p) {
            return .err(.internal(1000, "'\(p)'"))
        } catch FileReceiver.Failure.tooManyOpenFiles(let n) {
            return refuse("maxOpenFiles", "\(n) files being received, '\(relpath)' refused")
        } catch FileReceiver.Failure.fileTooLarge(let n) {
            return refuse("maxFileBytes", "'\(relpath)' is larger than \(n) bytes; its transfer was dropped")
        } catch {
            guard case .io(let reason) = error else { return .err(.internal(1000, "\(error)")) }
            logger(.error, "Could not receive '\(relpath)' from \(remote): \(reason)")
            return .err(.internal(1000, reason))
        }
    }

    /// The absolute path of a file this peer sent completely on this connection, named as a `*_e`
    /// command names it (relative to the home); nil for any other path. Each file is claimed once.
    public func claimReceivedFile(_ relative: String) -> String? {
        files?.claim(relative)
    }

    /// A `*_e <task> <path>` payload (`syn_i_w_m_e`, `syn_m_c_e`): the task and the file it names if this
    /// peer sent that file on this connection, else the refusal to answer (logged with `log`; 4.8.1
    /// opens any path it is given, so a peer could make a node read, then delete, its own local socket).
    func claimNamedFile(_ payload: [UInt8], command: String, sender: String,
                        log: (String) -> Void) -> Result<(taskID: String, path: String), WazuhException> {
        let (taskID, rest) = splitFirstSpace(payload)
        let relative = String(decoding: rest, as: UTF8.self)
        guard let path = files?.claim(relative) else {
            if let reason = files?.failureReason(relative) {
                log("'\(command)' names '\(relative)', whose transfer failed: \(reason)")
                return .failure(.cluster(3040, "'\(relative)' was not received: \(reason)"))
            }
            log("Refused '\(command)' naming '\(relative)': not a file \(sender) sent on this connection.")
            return .failure(.cluster(3040, "'\(relative)' is not a file received from \(sender) on this connection"))
        }
        return .success((taskID, path))
    }

    private func cancelTask(_ payload: [UInt8]) -> Reply {
        let space = payload.firstIndex(of: 0x20) ?? payload.count
        let taskID = String(decoding: payload[..<space], as: UTF8.self)
        let errorText = space < payload.count ? WazuhException.parse(payload: Array(payload[(space + 1)...])).description : ""
        if taskID != "None" && !taskID.isEmpty {
            interruptedTasks.insert(taskID)
            logger(.error, "The task was canceled due to the following error on the remote node: \(errorText)")
        } else {
            logger(.error, "The task was requested to be canceled but no task_id was received: \(errorText)")
        }
        return .ok("Request received correctly")
    }

    public func wasInterrupted(_ taskID: String) -> Bool { interruptedTasks.contains(taskID) }

    /// Runs `body` on the node's CPU pool; a pool that is shut down answers 1000. With `deadline`, a job
    /// still running after that many seconds is answered 3021 (`timeout_dapi_request`, as 4.8.1's master
    /// bounds a DAPI execution); its late result is dropped.
    public nonisolated func cpuResult<T: Sendable>(deadline: Double? = nil, _ body: @escaping @Sendable () -> Result<T, WazuhException>) async -> Result<T, WazuhException> {
        let pool = self.pool
        let job: @Sendable () async -> Result<T, WazuhException> = {
            do { return try await pool.run(body) } catch { return .failure(.internal(1000, "\(error)")) }
        }
        guard let deadline else { return await job() }
        return await withTaskGroup(of: Result<T, WazuhException>?.self) { group in
            group.addTask { await job() }
            group.addTask {
                guard (try? await Task.sleep(nanoseconds: UInt64(deadline * 1e9))) != nil else { return nil }
                return .failure(.cluster(3021))
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .failure(.cluster(3021))
        }
    }

    /// Runs `body` on the node's CPU pool.
    public nonisolated func cpu<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }
}

/// A request waiting for its response: resolved once, by the response, its timer or the link closing.
final class PendingRequest: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<Response, LinkError>, Never>?
        var result: Result<Response, LinkError>?
        var timer: Scheduled<Void>?
    }
    private let state = Mutex(State())

    func arm(_ timer: Scheduled<Void>) {
        let resolved = state.withLock { s -> Bool in
            if s.result != nil { return true }
            s.timer = timer
            return false
        }
        if resolved { timer.cancel() }
    }

    func resolve(_ result: Result<Response, LinkError>) {
        let (waiter, timer) = state.withLock { s -> (CheckedContinuation<Result<Response, LinkError>, Never>?, Scheduled<Void>?) in
            guard s.result == nil else { return (nil, nil) }
            s.result = result
            defer { s.continuation = nil; s.timer = nil }
            return (s.continuation, s.timer)
        }
        timer?.cancel()
        waiter?.resume(returning: result)
    }

    func result() async -> Result<Response, LinkError> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Result<Response, LinkError>? in
                if let r = s.result { return r }
                s.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The bound on a link's requests in progress: `acquire` waits while `limit` handlers run.
final class RequestSlots: Sendable {
    private let state: Mutex<(free: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(_ limit: Int) { state = Mutex((max(1, limit), [])) }

    func acquire() async {
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Bool in
                if s.free > 0 { s.free -= 1; return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.free += 1; return nil }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
