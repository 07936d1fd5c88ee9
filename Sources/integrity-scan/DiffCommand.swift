import ArgumentParser
import Common

/// `diff MASTER WORKER`: the master's comparison (§5.5), offline.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two nodes' metadata as a master would: missing, extra and shared files.",
        discussion: """
            MASTER and WORKER are metadata objects (integrity-scan --json) or a worker's metadata package; \
            either may be - for standard input. Exit status 0 when the worker matches, 1 when it differs, \
            2 on error.
            """)

    @Argument(help: ArgumentHelp("The master's metadata.", valueName: "MASTER"))
    var master: String

    @Argument(help: ArgumentHelp("The worker's metadata.", valueName: "WORKER"))
    var worker: String

    @Flag(name: .long, help: "Print {\"missing\", \"extra\", \"shared\"} as a master puts it in its package.")
    var json = false

    @OptionGroup var items: ItemsOptions

    func validate() throws {
        if master == "-" && worker == "-" { throw ValidationError("only one side can be read from standard input") }
    }

    func run() throws {
        let clusterItems = try items.load()
        let limit = IntegrityConstants.maxZipSize
        let m = try loadNodeMetadata(master, items: clusterItems, maxSize: limit)
        let w = try loadNodeMetadata(worker, items: clusterItems, maxSize: limit)
        let diff: IntegrityDiff
        do { diff = try IntegrityComparison.compare(master: m, worker: w, items: clusterItems) } catch {
            throw ToolError(error.description)
        }
        var out: [UInt8] = []
        if json {
            out = PythonJSONEncoder().encodeBytes(diff.json)
            out.append(0x0A)
        } else {
            for (name, group) in [("missing", diff.missing), ("extra", diff.extra), ("shared", diff.shared)] {
                out += "\(name): \(group.count)\n".utf8
                for path in group.paths { out += "  \(path)\n".utf8 }
            }
        }
        try writeStdout(out)
        if !diff.isEmpty { throw ExitCode(1) }
    }
}
