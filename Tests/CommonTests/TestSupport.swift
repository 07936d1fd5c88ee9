import Foundation
import Testing

/// Paths of the package under test, found from this file's location so tests run from any directory.
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/wazuh-4.8.1")
    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }
    /// Directory of the built executables (`swift build` debug output unless CLUSTERD_BIN_DIR says otherwise).
    static var binDir: URL {
        if let dir = ProcessInfo.processInfo.environment["CLUSTERD_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return packageRoot.appendingPathComponent(".build/debug")
    }
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

    /// Every path below the directory (files, directories and links), relative and sorted.
    func listing(_ relative: String = "") -> [String] {
        let base = relative.isEmpty ? path : path + "/" + relative
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        return (e.allObjects as? [String] ?? []).sorted()
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
