import Common

/// What a task's state machine asks its shell to do (DESIGN.md "Instance and shell"). The machines are
/// pure structs: events in (a message, a response, a job's result, a timer, a disconnect) with the time
/// passed in, directives out; they never do I/O or read a clock. The shell of each connection role runs
/// the directives and feeds their outcomes back as events.
public enum Directive<Job: Equatable & Sendable, Timer: Hashable & Sendable>: Equatable, Sendable {
    /// Send a request to the peer; its response (or failure) comes back as an event.
    case request(String, [UInt8])
    /// Run a job (CPU pool or file system); its result comes back as an event.
    case run(Job)
    /// Fire `Timer` after this many seconds (replacing an armed one of the same identity).
    case arm(Timer, after: Double)
    /// Disarm `Timer` (its reply came first).
    case cancel(Timer)
    /// One log line: level, subtag, text (the shell adds the connection's tag).
    case log(LogLevel, String, String)
    /// Close the connection, for the reason given.
    case close(String)

    public static func request(_ command: String, text: String) -> Directive { .request(command, Array(text.utf8)) }
}

/// A machine without jobs or timers of that kind.
public enum NoJob: Equatable, Sendable, Hashable {}

/// What a request's outcome looks like to a machine: the response, or the link's failure.
public typealias RequestOutcome = Result<Response, LinkError>

extension Result where Success == Response, Failure == LinkError {
    /// The response text, or the failure's, as 4.8.1 logs it.
    var outcomeText: String {
        switch self {
        case .success(let r): return r.text
        case .failure(let e): return e.description
        }
    }
}
