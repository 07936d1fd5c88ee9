import Foundation

/// The daemon's debug level from `wazuh_clusterd.debug` (LOCAL-DAPI-CONTROL.md §3.3).
extension InternalOptions {
    public static let debugOptionName = "wazuh_clusterd.debug"

    /// The effective level, 0…2: a non-zero `wazuh_clusterd.debug` wins, otherwise the number of `-d` flags.
    ///
    /// `etc/local_internal_options.conf` is read first and `etc/internal_options.conf` second; the first file
    /// that defines the option decides (a local `0` overrides a global `2`, as in 4.8.1).
    ///
    /// Deliberate fixes of 4.8.1 quirks: when the option is missing or invalid (not digits, outside 0–2),
    /// 4.8.1 forces level 0 and ignores `-d`; here `-d` still counts, so a home without
    /// `internal_options.conf` (tests, containers) can be debugged. And `-ddd` gives DEBUG2 instead of INFO:
    /// the count is capped at 2.
    public static func debugLevel(home: String, cliCount: Int) -> Int {
        let option = debugOptionValue(home: home) ?? 0
        let level = option != 0 ? option : cliCount
        return min(max(level, 0), 2)
    }

    /// The option's value if a file defines it with a valid value (0…2); nil otherwise.
    public static func debugOptionValue(home: String) -> Int? {
        for name in ["local_internal_options.conf", "internal_options.conf"] {
            guard let text = try? String(contentsOfFile: home + "/etc/" + name, encoding: .utf8),
                  let raw = value(of: debugOptionName, in: text)
            else { continue }
            guard !raw.isEmpty, raw.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(raw), (0...2).contains(n) else {
                return nil
            }
            return n
        }
        return nil
    }

    /// The value of `name` in `key=value` lines, ignoring `#` comments and blanks around `=`. The last
    /// definition in a file wins.
    static func value(of name: String, in text: String) -> String? {
        var found: String?
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let eq = content.firstIndex(of: "=") else { continue }
            let key = String(content[..<eq]).trimmingSpaces()
            if key == name { found = String(content[content.index(after: eq)...]).trimmingSpaces() }
        }
        return found
    }
}

extension LogLevel {
    /// The logger threshold for a debug level: 2 → DEBUG2, 1 → DEBUG, anything else → INFO.
    public init(debugLevel: Int) {
        switch debugLevel {
        case 2...: self = .debug2
        case 1: self = .debug
        default: self = .info
        }
    }
}
