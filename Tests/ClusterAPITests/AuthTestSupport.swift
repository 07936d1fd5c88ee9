@testable import ClusterAPI
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A node home under the temporary directory with its etc/ (and etc/cluster-api/, where the users file
/// lives), removed by `remove()`.
struct AuthHome {
    let path: String

    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("clusterd-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path + "/etc/cluster-api", withIntermediateDirectories: true)
    }

    var usersFile: String { APIUsers.path(home: path) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` with a fresh home, removed afterwards whatever happens.
func withAuthHome<T>(_ body: (AuthHome) async throws -> T) async throws -> T {
    let home = try AuthHome()
    defer { home.remove() }
    return try await body(home)
}

func withAuthHomes<T>(_ body: (AuthHome, AuthHome) async throws -> T) async throws -> T {
    try await withAuthHome { a in try await withAuthHome { b in try await body(a, b) } }
}

/// The injected clock: seconds since 1970, moved by hand.
final class AuthClock: Sendable {
    private let t: Mutex<Double>
    init(_ start: Double = 1_800_000_000.25) { t = Mutex(start) }
    var now: Double { t.withLock { $0 } }
    func advance(_ seconds: Double) { t.withLock { $0 += seconds } }
    func set(_ value: Double) { t.withLock { $0 = value } }
    var function: @Sendable () -> Double { { [self] in self.now } }
}

/// The lowest bcrypt cost, so that the tests do not spend seconds hashing.
let authTestCost: UInt8 = 4
let authKey = "abcdefghijklmnopqrstuvwxyz012345"
let authOtherKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

func basicHeader(_ user: String, _ password: String) -> String {
    "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
}

func bearerHeader(_ token: String) -> String { "Bearer " + token }

/// The claims of a JWT, decoded without checking anything.
func jwtClaims(of token: String) throws -> [String: Any] {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { throw AuthTestFailure("not three parts: \(token)") }
    var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b64.count % 4 != 0 { b64 += "=" }
    guard let data = Data(base64Encoded: b64), let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw AuthTestFailure("payload not JSON")
    }
    return object
}

struct AuthTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func authFileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o7777
}

func authInode(_ path: String) -> ino_t? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return st.st_ino
}

extension Result {
    var authValue: Success? { if case .success(let s) = self { s } else { nil } }
    var authError: Failure? { if case .failure(let f) = self { f } else { nil } }
}
