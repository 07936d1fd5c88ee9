import Common
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One executor process as the operating system sees it: started with `posix_spawn`, three pipes,
/// reaped with `waitpid`. Everything here is a thin call; what to do about it is `FrameworkPool`'s.
struct FrameworkProcess: Sendable {
    let pid: pid_t
    /// Our ends: the executor's stdin (we write), stdout and stderr (we read). Close-on-exec, so no
    /// other executor inherits them (an executor whose stdin another process holds would never see its end).
    let input: CInt
    let output: CInt
    let errors: CInt

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `python -I -u -c <bootstrap> clusterd-framework-executor` with the default signal
    /// dispositions and an empty mask (the daemon ignores SIGTERM and SIGINT to take them as events;
    /// a child would inherit that), in its own process group (a terminal's Ctrl-C is the daemon's to
    /// handle), with only fds 0–2 open.
    static func spawn(python: String) throws(SpawnError) -> FrameworkProcess {
        var fds: [CInt] = []
        func closeAll() { for fd in fds { close(fd) } }
        func makePipe() throws(SpawnError) -> (read: CInt, write: CInt) {
            var p: [CInt] = [0, 0]
            // pipe2 is not in Swift's Glibc; every spawn happens on the bridge's one loop, so no other
            // executor can be started between pipe() and the fcntl.
            guard pipe(&p) == 0, fcntl(p[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(p[1], F_SETFD, FD_CLOEXEC) == 0 else {
                let reason = String(cString: strerror(errno))
                closeAll()
                throw SpawnError(description: "cannot make a pipe: \(reason)")
            }
            fds += p
            return (p[0], p[1])
        }
        let stdin = try makePipe(), stdout = try makePipe(), stderr = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin.read, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr.write, 2)
        closeInheritable(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let arguments = [python, "-I", "-u", "-c", FrameworkExecutorScript.bootstrap, FrameworkExecutorScript.name]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, python, &actions, &attributes, &argv, environ)
        // The child's ends are the child's now.
        close(stdin.read)
        close(stdout.write)
        close(stderr.write)
        guard rc == 0 else {
            close(stdin.write)
            close(stdout.read)
            close(stderr.read)
            throw SpawnError(description: "cannot start \(python): \(String(cString: strerror(rc)))")
        }
        return FrameworkProcess(pid: pid, input: stdin.write, output: stdout.read, errors: stderr.read)
    }

    /// Only fds 0–2 reach the executor: `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34, looked up
    /// at run time since Swift's Glibc does not declare it), else a close for each open fd that lacks
    /// close-on-exec.
    private static func closeInheritable(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { CInt($0) } ?? []
        for fd in open where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// The exit status if the process has ended (it is reaped then), nil while it runs.
    static func reap(_ pid: pid_t) -> String? {
        var status: CInt = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == 0 { return nil }
        if rc < 0 { return errno == ECHILD ? "already reaped" : "waitpid failed: \(String(cString: strerror(errno)))" }
        return describe(status: status)
    }

    /// "exit status N" or "signal N (NAME)", from a `waitpid` status.
    static func describe(status: CInt) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exit status \((status >> 8) & 0xff)" }
        let names: [CInt: String] = [SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT",
                                     SIGINT: "SIGINT", SIGBUS: "SIGBUS", SIGPIPE: "SIGPIPE", SIGHUP: "SIGHUP"]
        return "signal \(signal)" + (names[signal].map { " (\($0))" } ?? "")
    }
}

/// A frame between clusterd and an executor: 4-byte big-endian length, then a kind byte and the payload.
struct ExecutorFrame: Sendable, Equatable {
    let kind: UInt8
    let payload: [UInt8]

    static let ready = UInt8(ascii: "k"), result = UInt8(ascii: "r"), exception = UInt8(ascii: "e")
    static let refused = UInt8(ascii: "x"), unencodable = UInt8(ascii: "f")

    /// A frame clusterd sends: the script, the settings, a request body (no kind byte).
    static func outgoing(_ bytes: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + 4)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }
}

struct ExecutorFrameError: Error, CustomStringConvertible {
    let description: String
}

/// Reads the executor's frames, refusing an empty one and one larger than `maxBytes` before holding it.
struct ExecutorFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ExecutorFrame
    let maxBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length > 0 else { throw ExecutorFrameError(description: "sent an empty frame") }
        guard Int(length) <= maxBytes else {
            throw ExecutorFrameError(description: "sent an answer of \(length) bytes, more than the \(maxBytes) allowed")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let kind = buffer.readInteger(as: UInt8.self)!
        let payload = buffer.readBytes(length: Int(length) - 1)!
        context.fireChannelRead(wrapInboundOut(ExecutorFrame(kind: kind, payload: payload)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Splits the executor's stderr into lines of at most `maxLength` bytes (a longer line keeps its head
/// and says how much was cut); the last line is given even without its newline.
struct StderrLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    let maxLength: Int
    /// Bytes of the current line dropped past `maxLength`.
    private var cut = 0
    private var head: [UInt8]?

    init(maxLength: Int) { self.maxLength = maxLength }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            let bytes = buffer.readBytes(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            emit(context, bytes)
            return .continue
        }
        if view.count > maxLength {
            // Keep the head of a line too long to hold; count the rest until its newline.
            let bytes = buffer.readBytes(length: view.count)!
            if head == nil { head = Array(bytes.prefix(maxLength)); cut += bytes.count - maxLength } else { cut += bytes.count }
            return .needMoreData
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 || head != nil {
            emit(context, buffer.readBytes(length: buffer.readableBytes) ?? [])
        }
        return .needMoreData
    }

    private mutating func emit(_ context: ChannelHandlerContext, _ rest: [UInt8]) {
        var bytes: [UInt8]
        var dropped = cut
        if let head {
            bytes = head
            dropped += rest.count
        } else if rest.count > maxLength {
            bytes = Array(rest.prefix(maxLength))
            dropped += rest.count - maxLength
        } else {
            bytes = rest
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        var line = String(decoding: bytes, as: UTF8.self)
        if dropped > 0 { line += " [\(dropped) more bytes not logged]" }
        head = nil
        cut = 0
        context.fireChannelRead(wrapInboundOut(line))
    }
}

/// The level a line of executor output is logged at: the executor writes `LEVEL: message`; lines
/// without a level (traceback lines, prints) take the level of the record before them.
struct StderrLevels {
    private(set) var last: LogLevel = .warning

    mutating func classify(_ line: String) -> (LogLevel, String) {
        for (prefix, level) in Self.prefixes where line.hasPrefix(prefix) {
            last = level
            return (level, String(line.dropFirst(prefix.count)))
        }
        return (last, line)
    }

    static let prefixes: [(String, LogLevel)] = [("DEBUG: ", .debug), ("INFO: ", .info), ("WARNING: ", .warning),
                                                 ("ERROR: ", .error), ("CRITICAL: ", .error)]
}

/// At most `burst` lines at once and `perSecond` on average: an executor that floods its stderr
/// cannot flood cluster.log. What was dropped is counted and said with the next line let through.
struct LineBudget {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: NIODeadline?
    private(set) var dropped = 0

    init(burst: Int, perSecond: Int) {
        self.burst = Double(burst)
        self.perSecond = Double(perSecond)
        tokens = Double(burst)
    }

    /// Whether a line at `now` may be logged, and how many were dropped before it (to be said first).
    mutating func admit(now: NIODeadline) -> (admitted: Bool, droppedBefore: Int) {
        if let last { tokens = min(burst, tokens + Double((now - last).nanoseconds) / 1e9 * perSecond) }
        last = now
        guard tokens >= 1 else {
            dropped += 1
            return (false, 0)
        }
        tokens -= 1
        return (true, takeDropped())
    }

    /// The lines dropped since the last notice (then zero).
    mutating func takeDropped() -> Int {
        defer { dropped = 0 }
        return dropped
    }
}
