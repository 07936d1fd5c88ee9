import Foundation

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
