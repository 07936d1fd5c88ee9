import Foundation

/// The daemon's debug level from `wazuh_clusterd.debug` (LOCAL-DAPI-CONTROL.md §3.3).
extension InternalOptions {
    public static let debugOptionName = "wazuh_clusterd.debug"

    /// What the internal options files say about `wazuh_clusterd.debug`.
    public enum DebugOption: Equatable, Sendable {
        /// Neither file defines it.
        case absent
        /// A valid value (0…2) and the file that defined it.
        case value(Int, file: String)
        /// A value that is not digits or is outside 0…2, and its file.
        case invalid(String, file: String)

        /// The warning to log for an invalid value.
        public var warning: String? {
            guard case .invalid(let raw, let file) = self else { return nil }
            return "Invalid value '\(raw)' for \(InternalOptions.debugOptionName) in \(file) (expected 0, 1 or 2): "
                + "debug level 0, and -d is ignored, as in Wazuh 4.8.1."
        }
    }

    /// The effective level, 0…2, from the option and the number of `-d` flags (LOCAL-DAPI-CONTROL.md §3.3):
    /// - a non-zero option wins over `-d`; an option of 0 lets the `-d` count decide;
    /// - an invalid option (not digits, outside 0–2) forces level 0 and `-d` is ignored, as in 4.8.1.
    ///
    /// Deliberate differences from 4.8.1: when neither file defines the option, 4.8.1 also forces 0 (its
    /// reader raises); here `-d` still counts, so a home without `internal_options.conf` (tests,
    /// containers) can be debugged. And `-ddd` gives DEBUG2 instead of INFO: the count is capped at 2.
    public static func debugLevel(option: DebugOption, cliCount: Int) -> Int {
        let cli = min(max(cliCount, 0), 2)
        switch option {
        case .absent: return cli
        case .value(let n, _): return n != 0 ? n : cli
        case .invalid: return 0
        }
    }

    public static func debugLevel(home: String, cliCount: Int) -> Int {
        debugLevel(option: debugOption(home: home), cliCount: cliCount)
    }

    /// `etc/local_internal_options.conf` is read first and `etc/internal_options.conf` second; the first
    /// file that defines the option decides, valid or not (a local `0` overrides a global `2`, and a broken
    /// local value is not rescued by a good global one, as in 4.8.1).
    public static func debugOption(home: String) -> DebugOption {
        for name in ["local_internal_options.conf", "internal_options.conf"] {
            let file = home + "/etc/" + name
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  let raw = value(of: debugOptionName, in: text)
            else { continue }
            guard !raw.isEmpty, raw.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(raw), (0...2).contains(n) else {
                return .invalid(raw, file: file)
            }
            return .value(n, file: file)
        }
        return .absent
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
