import Foundation

/// What every harness shares: the input as bytes, the fixtures' cluster key, and the replay tool that a
/// harness is in a normal build.
public enum FuzzInput {
    /// The cluster key of the recorded 4.8.1 traffic (Tests/Fixtures/wazuh-4.8.1/README.md), so that
    /// seeds taken from it decrypt and the fuzzer reaches what lies behind a valid token.
    public static let fixtureKey = "WazuhPeerTestKey0123456789abcdef"

    /// libFuzzer's input as an array (the parsers take arrays; a zero-length input has no pointer).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A failed invariant: a harness found a result its parser must never give. Traps, so libFuzzer
    /// keeps the input as a crash and the replay tool exits non-zero.
    public static func violated(_ what: String, file: StaticString = #file, line: UInt = #line) -> Never {
        fatalError("fuzz invariant violated: \(what)", file: file, line: line)
    }

    /// The normal build's `main`: runs each file named on the command line (every regular file under a
    /// directory) through `body`, one at a time, naming each on stderr first so a trap points at its input.
    /// Exits 2 on a usage error or an unreadable file; a trap inside `body` ends the process as it would
    /// under libFuzzer.
    public static func replay(_ name: String, _ body: ([UInt8]) -> Void) -> Never {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.isEmpty || arguments.contains("-h") || arguments.contains("--help") {
            let usage = """
                usage: \(name) FILE|DIR...
                Runs each input through the \(name) harness (the entry point `make fuzz` fuzzes), without
                sanitizers; prints one line per input and exits 0 when none crashed.

                """
            FileHandle.standardError.write(Data(usage.utf8))
            exit(arguments.isEmpty ? 2 : 0)
        }
        var files: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("\(name): no such file or directory: \(argument)\n".utf8))
                exit(2)
            }
            if isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                files += entries.sorted().map { argument + "/" + $0 }.filter {
                    var dir: ObjCBool = false
                    return FileManager.default.fileExists(atPath: $0, isDirectory: &dir) && !dir.boolValue
                }
            } else {
                files.append(argument)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("\(name): cannot read \(file)\n".utf8))
                exit(2)
            }
            FileHandle.standardError.write(Data("\(name): \(file) (\(data.count) bytes)\n".utf8))
            body([UInt8](data))
        }
        print("\(name): \(files.count) inputs, no crash")
        exit(0)
    }
}
