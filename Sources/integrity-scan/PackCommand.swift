import ArgumentParser
import Common
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PackageFormat: ExpressibleByArgument {}

/// `pack`: build a package as a master (files to send) or a worker (metadata only) would.
struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Build an integrity package from a node home.",
        discussion: """
            With PATHs (relative to the home), packs those files as a master would send them to a worker \
            that lacks them (all in "missing"). With --diff FILE, packs the missing and shared files of a \
            diff (integrity-scan diff --json). With --metadata-only, writes the metadata-only package a \
            worker sends. Files that do not fit --max-size are left out with a warning, as in a sync round.
            """)

    @Option(name: .long, help: ArgumentHelp("Node home the files are read from.", valueName: "DIR"))
    var home = "/var/ossec"

    @Option(name: .long, help: "zip (between clusterd nodes) or wazuh (the 4.8.1 container).")
    var format: PackageFormat = .zip

    @Option(name: .long, help: ArgumentHelp("Package size limit in bytes (max_zip_size).", valueName: "N"))
    var maxSize = IntegrityConstants.maxZipSize

    @Option(name: .long, help: ArgumentHelp("Compression level 0-9 (compress_level).", valueName: "N"))
    var level = IntegrityConstants.compressLevel

    @Option(name: .shortAndLong, help: ArgumentHelp("Package file to write (- for standard output).", valueName: "FILE"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("Pack the missing and shared files of this diff JSON.", valueName: "FILE"))
    var diff: String?

    @Flag(name: .long, help: "Write a worker's metadata-only package of the whole home.")
    var metadataOnly = false

    @Flag(name: .shortAndLong, help: "Report what was packed on stderr.")
    var verbose = false

    @OptionGroup var items: ItemsOptions

    @Argument(help: ArgumentHelp("Files to pack, relative to the home.", valueName: "PATH"))
    var paths: [String] = []

    func validate() throws {
        let sources = (paths.isEmpty ? 0 : 1) + (diff == nil ? 0 : 1) + (metadataOnly ? 1 : 0)
        if sources != 1 { throw ValidationError("give exactly one of PATH..., --diff FILE or --metadata-only") }
        if !(0...9).contains(level) { throw ValidationError("--level must be between 0 and 9") }
        if maxSize < 1 { throw ValidationError("--max-size must be positive") }
    }

    func run() throws {
        try requireDirectory(home)
        let clusterItems = try items.load()
        let writer = PackageWriter(format: format, home: home, items: clusterItems, limit: maxSize, compressLevel: level)
        let scanner = IntegrityScanner(home: home, items: clusterItems)
        // A package file is written as it is built, under a temporary name so that a failed build leaves
        // an existing file alone; only standard output needs the package in memory.
        let toFile = output != "-"
        let partial = output + ".partial"
        let build: PackageBuild
        do {
            if metadataOnly {
                var cache = HashCache()
                let scan = scanner.scan(cache: &cache)
                for issue in scan.issues { printError("warning: \(issue)") }
                build = toFile ? try writer.metadataPackage(scan.metadata, toFile: partial) : try writer.metadataPackage(scan.metadata)
            } else if let diff {
                let json: JSONValue
                do { json = try JSONParser.parse(try readInput(diff)) } catch let e as JSONParseError {
                    throw ToolError("\(diff): \(e)")
                }
                let groups: IntegrityDiff
                do { groups = try IntegrityDiff(json: json) } catch { throw ToolError("\(diff): \(error)") }
                build = toFile ? try writer.syncPackage(groups, toFile: partial) : try writer.syncPackage(groups)
            } else {
                let relative = try paths.map(relativePath)
                let scan: IntegrityScan
                do { scan = try scanner.scan(paths: relative) } catch { throw ToolError(error.description) }
                if let issue = scan.issues.first { throw ToolError(issue.description) }
                let groups = IntegrityDiff(missing: scan.metadata)
                build = toFile ? try writer.syncPackage(groups, toFile: partial) : try writer.syncPackage(groups)
            }
        } catch let error as PackageError {
            throw ToolError(error.description)
        }
        if build.limitReached { printError("warning: Maximum zip size exceeded. Not all files will be compressed during this sync.") }
        for skipped in build.skipped { printError("warning: \(skipped)") }
        if toFile {
            if rename(partial, output) != 0 { throw ToolError(SystemCallError("rename", path: output, errno: errno).description) }
        } else {
            do { try FileIO.writeFile(path: output, build.bytes) } catch { throw ToolError(error.description) }
        }
        if verbose {
            for path in build.included { printError("packed \(path)") }
            printError("\(output): \(format.rawValue) package, \(build.included.count) files, \(build.size) bytes")
        }
    }

    /// Accepts a home-relative path, or an absolute one inside the home.
    private func relativePath(_ path: String) throws -> String {
        let prefix = home.hasSuffix("/") ? home : home + "/"
        if path.hasPrefix("/") {
            guard path.hasPrefix(prefix) else { throw ToolError("\(path) is not inside the home \(home)") }
            return String(path.dropFirst(prefix.count))
        }
        return path
    }
}
