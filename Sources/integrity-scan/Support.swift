import ArgumentParser
import Common
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure already worded for the user; printed as "integrity-scan: <message>", exit status 2.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func printError(_ message: String) {
    let line = "integrity-scan: " + message + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
}

/// Writes bytes to standard output (a closed pipe ends the program quietly, as with `head`).
func writeStdout(_ bytes: [UInt8]) throws {
    do {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) in try FileIO.writeAll(fd: STDOUT_FILENO, raw, path: "standard output") }
        }.get()
    } catch where error.errno == EPIPE {
        throw ExitCode(2)
    } catch {
        throw ToolError(error.description)
    }
}

/// Options every subcommand that needs cluster items shares.
struct ItemsOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "JSON file with the 'files' section of cluster.json (or a whole cluster.json) replacing the stock 4.8.1 items.",
        valueName: "FILE"))
    var items: String?

    func load() throws -> ClusterItems {
        guard let items else { return .wazuh481 }
        do { return try ClusterItems.load(path: items) } catch { throw ToolError(error.description) }
    }
}

/// Reads a file or standard input ("-").
func readInput(_ path: String) throws -> [UInt8] {
    do { return try FileIO.readAll(path: path) } catch { throw ToolError(error.description) }
}

/// Node metadata from either a JSON object (`integrity-scan --json`) or a worker's metadata package.
func loadNodeMetadata(_ path: String, items: ClusterItems, maxSize: Int) throws -> IntegrityMetadata {
    let bytes = try readInput(path)
    let name = path == "-" ? "standard input" : path
    let firstNonSpace = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
    if firstNonSpace == UInt8(ascii: "{") {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw ToolError("\(name): \(error)") }
        if IntegrityDiff.isGroupObject(json) {
            throw ToolError("\(name) holds missing/extra/shared groups, not the metadata of one node")
        }
        do { return try IntegrityMetadata(json: json) } catch { throw ToolError("\(name): \(error)") }
    }
    let package: IntegrityPackage
    do { package = try PackageReader(items: items, maxDecompressedSize: maxSize).read(bytes) } catch {
        throw ToolError("\(name): not metadata JSON, and as a package: \(error)")
    }
    guard case .node(let metadata) = package.metadata else {
        throw ToolError("\(name) is a master sync package, not the metadata of one node")
    }
    return metadata
}

/// A mistyped --home would otherwise scan as an empty node; missing item directories inside it are fine.
func requireDirectory(_ path: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else { throw ToolError(SystemCallError("home", path: path, errno: errno).description) }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ToolError("home \(path) is not a directory") }
}
