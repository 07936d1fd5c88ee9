import ArgumentParser
import Common
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `unpack`: check, list or extract a package of either format.
struct UnpackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpack",
        abstract: "Check and extract (or list) an integrity package, zip or 4.8.1.",
        discussion: """
            The whole package is checked before anything is written: entries must be regular files inside \
            the cluster items, not excluded, not duplicated, and decompress to at most --max-size bytes in \
            total. A refused package writes nothing and exits with status 2.
            """)

    @Argument(help: ArgumentHelp("Package file (- for standard input).", valueName: "FILE"))
    var package: String

    @Option(name: .customShort("C"), help: ArgumentHelp("Directory to extract into (created if missing).", valueName: "DIR"))
    var directory: String?

    @Flag(name: .long, help: "List the entries and the metadata groups instead of extracting.")
    var list = false

    @Flag(name: .long, help: "Print files_metadata.json instead of extracting.")
    var metadata = false

    @Option(name: .long, help: ArgumentHelp("Most decompressed bytes accepted (max_zip_size).", valueName: "N"))
    var maxSize = IntegrityConstants.maxZipSize

    @Flag(name: .shortAndLong, help: "Name each extracted file on stderr.")
    var verbose = false

    @OptionGroup var items: ItemsOptions

    func validate() throws {
        if list && metadata { throw ValidationError("--list and --metadata are exclusive") }
        if !list && !metadata && directory == nil { throw ValidationError("give -C DIR, --list or --metadata") }
    }

    func run() throws {
        let bytes = try readInput(package)
        let reader = PackageReader(items: try items.load(), maxDecompressedSize: maxSize)
        do {
            if list || metadata {
                let p = try reader.read(bytes)
                try writeStdout(metadata ? p.metadataBytes + [0x0A] : listing(p))
                return
            }
            guard let directory else { return }
            try makeDirectories(directory)
            let p = try PackageExtractor(reader: reader).extract(bytes, into: directory)
            if verbose { for f in p.files { printError("extracted \(f.path)") } }
        } catch let error as PackageError {
            throw ToolError("\(package == "-" ? "standard input" : package): \(error)")
        }
    }

    private func listing(_ p: IntegrityPackage) -> [UInt8] {
        func files(_ n: Int) -> String { n == 1 ? "1 file" : "\(n) files" }
        var out = ""
        switch p.metadata {
        case .node(let m):
            out += "\(p.format.rawValue) package, \(files(p.files.count)), node metadata of \(files(m.count))\n"
        case .sync(let d):
            out += "\(p.format.rawValue) package, \(files(p.files.count)), missing \(d.missing.count),"
                + " extra \(d.extra.count), shared \(d.shared.count)\n"
        }
        for f in p.files { out += pad(f.content.count) + "  " + f.path + "\n" }
        out += pad(p.metadataBytes.count) + "  " + IntegrityConstants.metadataEntryName + "\n"
        return Array(out.utf8)
    }

    private func pad(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: " ", count: max(0, 10 - s.count)) + s
    }

    /// `mkdir -p` for the target (the package's own directories are made by the extractor).
    private func makeDirectories(_ path: String) throws {
        var sofar = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            sofar += (sofar.isEmpty || sofar.hasSuffix("/") ? "" : "/") + component
            if mkdir(sofar, 0o755) != 0 && errno != EEXIST {
                throw ToolError(SystemCallError("mkdir", path: sofar, errno: errno).description)
            }
        }
    }
}
