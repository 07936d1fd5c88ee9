import ArgumentParser
import Common
import Dispatch

/// The default subcommand: the metadata of a node home.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Print the integrity metadata of a node home (the default subcommand).")

    @Option(name: .long, help: ArgumentHelp("Node home to scan.", valueName: "DIR"))
    var home = "/var/ossec"

    @OptionGroup var items: ItemsOptions

    @Flag(name: .long, help: "Print the metadata object a worker sends (Python json.dumps text).")
    var json = false

    @Flag(name: .long, help: "Print one JSON object per file: {\"path\", \"mod_time\", \"cluster_item_key\", \"merged\", \"hash\"}.")
    var jsonl = false

    @Option(name: .long, help: ArgumentHelp("Scan N times in one process, reusing the hash cache (benchmarking).",
                                            visibility: .hidden))
    var `repeat` = 1

    @Flag(name: .long, help: ArgumentHelp("Print each scan's duration on stderr (benchmarking).", visibility: .hidden))
    var timing = false

    @Option(name: .long, help: ArgumentHelp("1 scans on one thread; the default uses every CPU.", visibility: .hidden))
    var threads: Int?

    func validate() throws {
        if json && jsonl { throw ValidationError("--json and --jsonl are exclusive") }
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try requireDirectory(home)
        let scanner = IntegrityScanner(home: home, items: try items.load(), concurrency: threads)
        var cache = HashCache()
        var result: IntegrityScan?
        for round in 1...`repeat` {
            let progress = ScanProgress()
            let line = ProgressLine(progress: progress)
            line?.start()
            let start = DispatchTime.now().uptimeNanoseconds
            let scan = scanner.scan(cache: &cache, progress: progress)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            line?.stop()
            if timing {
                printError("scan \(round): \(formatSeconds(seconds)) s, \(scan.metadata.count) files"
                           + " (\(scan.hashedCount) hashed, \(scan.reusedCount) from cache)")
            }
            result = scan
        }
        guard let scan = result else { return }
        try writeStdout(render(scan.metadata))
        for issue in scan.issues { printError(issue.description) }
        if scan.issues.contains(where: { $0.kind == .unreadable }) { throw ExitCode(1) }
    }

    private func render(_ metadata: IntegrityMetadata) -> [UInt8] {
        var out: [UInt8] = []
        if json {
            out = metadata.pythonJSONBytes
            out.append(0x0A)
            return out
        }
        let encoder = PythonJSONEncoder()
        for (path, m) in metadata {
            if jsonl {
                guard case .object(let fields) = m.json else { continue }
                var line = JSONObject([("path", .string(path))])
                for (k, v) in fields { line[k] = v }
                encoder.write(.object(line), into: &out)
            } else {
                out += m.hash.utf8
                out += [0x20, 0x20]
                out += path.utf8
            }
            out.append(0x0A)
        }
        return out
    }
}

func formatSeconds(_ s: Double) -> String {
    let micro = Int((s * 1_000_000).rounded())
    let frac = String(micro % 1_000_000)
    return "\(micro / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
}
