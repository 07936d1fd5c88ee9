import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Exit status follows diff(1): 0 = same / success, 1 = differences (diff) or unreadable files (scan),
// 2 = trouble. ArgumentParser's own codes (1 for errors, 64 for usage) are folded into 2 here so a
// script can tell "different" from "failed"; help and --version still exit 0.
do {
    var command = try IntegrityScanTool.parseAsRoot()
    try command.run()
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if IntegrityScanTool.exitCode(for: error) == .success { IntegrityScanTool.exit(withError: error) }
    if let e = error as? ToolError {
        printError(e.description)
    } else {
        let message = IntegrityScanTool.fullMessage(for: error)
        printError(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
    }
    exit(2)
}
