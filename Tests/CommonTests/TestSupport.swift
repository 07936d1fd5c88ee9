import Foundation
import Testing

/// Paths of the package under test, found from this file's location so tests run from any directory.
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Tests/Fixtures/wazuh-4.8.1: captures and packages of a real 4.8.1 cluster.
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/wazuh-4.8.1")

    static func fixturePath(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// Directory of the built executables: CLUSTERD_BIN_DIR when set, else the directory of the running
    /// test bundle when the tools were built next to it (`swift build --build-tests`, whatever the scratch
    /// path), else the default debug output.
    static var binDir: URL {
        if let dir = ProcessInfo.processInfo.environment["CLUSTERD_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        if let bundle = Bundle.main.executableURL?.deletingLastPathComponent(),
           FileManager.default.isExecutableFile(atPath: bundle.appendingPathComponent("clusterd").path) {
            return bundle
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    /// The path of a built executable of the package (`integrity-scan`, `frame-dump`, …).
    static func tool(_ name: String) -> String { binDir.appendingPathComponent(name).path }
}

/// A directory under /tmp made for one test and removed with the value, so parallel tests never share
/// files. The path is short: a Unix socket inside it must stay under the 108-byte limit.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() {
        var template = Array("/tmp/commontests.XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { buffer in
            guard let made = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
            return String(cString: made)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates a file (and its directories) with the given bytes.
    @discardableResult
    func write(_ relative: String, _ content: [UInt8]) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: full, contents: Data(content)))
        return full
    }

    @discardableResult
    func write(_ relative: String, _ text: String) -> String { write(relative, Array(text.utf8)) }

    func makeDirectory(_ relative: String) {
        try! FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func read(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path + "/" + relative).map { Array($0) }
    }

    /// Every path below the directory (files, directories and links), relative and sorted; the applier's
    /// staging directories (`queue/cluster/.staging/<k>`, made at its first use) are left out, not
    /// what is in them.
    func listing(_ relative: String = "") -> [String] {
        let base = relative.isEmpty ? path : path + "/" + relative
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        let skeleton: Set<String> = relative.isEmpty
            ? Set(["queue", "queue/cluster", "queue/cluster/.staging"] + (0..<16).map { "queue/cluster/.staging/\($0)" })
            : []
        return (e.allObjects as? [String] ?? []).filter { !skeleton.contains($0) }.sorted()
    }
}

/// The fixtures' cluster key.
let fixtureKey = "WazuhPeerTestKey0123456789abcdef"

/// A small deterministic generator so property tests are reproducible from the printed seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// `n` pseudo-random bytes drawn from `g`.
func randomBytes<G: RandomNumberGenerator>(_ n: Int, using g: inout G) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: n)
    var i = 0
    while i < n {
        let v = g.next()
        withUnsafeBytes(of: v) { raw in
            for b in raw where i < n { out[i] = b; i += 1 }
        }
    }
    return out
}

/// `n` pseudo-random bytes from a generator of their own seeded with `seed`, so failures reproduce.
func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return randomBytes(n, using: &generator)
}

struct ProcessResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion, feeding `stdin` and collecting both outputs.
func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil,
         directory: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    // Drain both pipes concurrently so a large output cannot block the child.
    let errBox = DataBox()
    let done = DispatchSemaphore(value: 0)
    let errHandle = err.fileHandleForReading
    Thread {
        errBox.data = errHandle.readDataToEndOfFile()
        done.signal()
    }.start()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    done.wait()
    return ProcessResult(status: process.terminationStatus, stdout: Array(outData),
                         stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// Written by the stderr reader thread, read after it signals.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
