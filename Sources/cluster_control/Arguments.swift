/// The command line of `cluster_control`, read the way 4.8.1's argparse reads it: multi-character short
/// flags (`-fn`, `-fs`) take zero or more values up to the next option, `-i` takes an optional value, and
/// `-a`, `-l`, `-i`, `-u` exclude each other. swift-argument-parser has no multi-character short flags or
/// optional option values, so this small parser does it by hand.
struct ControlArguments: Equatable {
    enum Action: Equatable {
        case listNodes
        case health(more: Bool)
        case listAgents
        case usage
    }

    var action: Action?
    var help = false
    var debug = 0
    var json = false
    var home: String?
    /// nil: the flag was not given; []: given without values.
    var filterNode: [String]?
    var filterStatus: [String]?
}

/// A command line argparse would reject; exit status 2.
struct ArgumentError: Error, Equatable, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension ControlArguments {
    /// Names used in "not allowed with" messages, as argparse spells them.
    static func flagName(_ action: Action) -> String {
        switch action {
        case .listNodes: return "-l/--list-nodes"
        case .health: return "-i/--health"
        case .listAgents: return "-a/--list-agents"
        case .usage: return "-u/--usage"
        }
    }

    static func parse(_ args: [String]) throws(ArgumentError) -> ControlArguments {
        var result = ControlArguments()
        var i = 0

        /// Values following an option: every argument up to the next one that looks like an option.
        func values() -> [String] {
            var out: [String] = []
            while i < args.count, !looksLikeOption(args[i]) { out.append(args[i]); i += 1 }
            return out
        }

        func setAction(_ action: Action) throws(ArgumentError) {
            if let current = result.action {
                throw ArgumentError(message: "argument \(flagName(action)): not allowed with argument \(flagName(current))")
            }
            result.action = action
        }

        while i < args.count {
            let arg = args[i]
            i += 1
            // --home=DIR
            if arg.hasPrefix("--home=") {
                result.home = String(arg.dropFirst("--home=".count))
                continue
            }
            switch arg {
            case "-h", "--help":
                result.help = true
            case "-d", "--debug":
                result.debug += 1
            case "--json":
                result.json = true
            case "--home":
                guard i < args.count, !looksLikeOption(args[i]) else { throw ArgumentError(message: "argument --home: expected one argument") }
                result.home = args[i]
                i += 1
            case "-fn", "--filter-node":
                result.filterNode = (result.filterNode ?? []) + values()
            case "-fs", "--filter-agent-status":
                result.filterStatus = (result.filterStatus ?? []) + values()
            case "-a", "--list-agents":
                try setAction(.listAgents)
            case "-l", "--list-nodes":
                try setAction(.listNodes)
            case "-u", "--usage":
                try setAction(.usage)
            case "-i", "--health":
                var more = false
                if i < args.count, !looksLikeOption(args[i]) {
                    more = args[i].lowercased() == "more"
                    i += 1
                }
                try setAction(.health(more: more))
            default:
                if looksLikeOption(arg) { throw ArgumentError(message: "unrecognized arguments: \(arg)") }
                throw ArgumentError(message: "unrecognized arguments: \(([arg] + args[i...]).joined(separator: " "))")
            }
        }
        return result
    }

    /// argparse treats `-x…` as an option unless it is a negative number.
    static func looksLikeOption(_ s: String) -> Bool {
        guard s.hasPrefix("-"), s.count > 1 else { return false }
        return Double(s) == nil
    }
}
