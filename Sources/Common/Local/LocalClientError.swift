/// Why a local-socket request failed on this side (the daemon's own errors arrive as `WazuhException`).
/// Each case carries the Wazuh code 4.8.1's `LocalClient` raises for it, and says what to look at.
public enum LocalClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No socket file: the daemon is not running (or runs under another home). 3012.
    case socketMissing(path: String)
    /// The socket file exists but nothing accepts on it (stale file after a crash). 3012.
    case connectionRefused(path: String)
    /// No reply (or no asynchronous result) in time. 3020.
    case timeout(command: String, seconds: Double)
    /// The daemon closed the connection before the result arrived. 3018.
    case connectionClosed(command: String)
    /// A system call failed (`operation` names it). 3009.
    case io(operation: String, path: String, errno: Int32, reason: String)
    /// The daemon reported a failure as text (`Error …` strings of `dapi_res`, `control_res`, `dapi_err`).
    case remoteText(String)
    /// The reply could not be understood (bad frame, unexpected command). 3009.
    case protocolViolation(String)

    public var code: Int {
        switch self {
        case .socketMissing, .connectionRefused: return 3012
        case .timeout: return 3020
        case .connectionClosed: return 3018
        case .io, .protocolViolation, .remoteText: return 3009
        }
    }

    /// `Error <code> - <message>` as 4.8.1 prints it, followed by the detail that says what to check.
    public var description: String {
        switch self {
        case .socketMissing(let path):
            return "Error 3012 - Cluster is not running: no socket at \(path)"
        case .connectionRefused(let path):
            return "Error 3012 - Cluster is not running: connection refused on \(path) (stale socket file?)"
        case let .timeout(command, seconds):
            return "Error 3020 - Timeout sending request: \(command) (no answer in \(Self.seconds(seconds)) s)"
        case .connectionClosed(let command):
            return "Error 3018 - Error sending request: the cluster daemon closed the connection before answering \(command)"
        case let .io(operation, path, errno, reason):
            return "Error 3009 - Error executing distributed API request: \(operation) on \(path) failed: \(reason) (errno \(errno))"
        case .remoteText(let text):
            return text
        case .protocolViolation(let what):
            return "Error 3009 - Error executing distributed API request: unexpected reply from the cluster daemon: \(what)"
        }
    }

    private static func seconds(_ s: Double) -> String {
        s == s.rounded() && abs(s) < 1e15 ? String(Int64(s)) : String(s)
    }
}
