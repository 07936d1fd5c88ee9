import Common
import Crypto
import Dispatch
import Foundation
import HummingbirdBcrypt
import JWTKit
import Synchronization

// The authentication of the REST front (issue #12): users in one file under etc/ (APIUsers), bcrypt
// hashes, JWT tokens signed with a secret derived from the cluster key (so that every node of a cluster
// accepts the tokens of every other), revocation through a stamp file, login blocking per address.

/// A refusal with the reason behind it: `problem` is the answer for the client (4.8.1's texts, which do
/// not tell an expired token from a forged one), `reason` is for the log.
public struct AuthRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var problem: APIProblem
    public var reason: String

    public init(problem: APIProblem, reason: String) {
        (self.problem, self.reason) = (problem, reason)
    }

    public var description: String { "\(problem) (\(reason))" }
}

/// Why an `APIAuth` could not be set up, or a revocation could not be recorded.
public enum APIAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidClusterKey(String)
    case invalidSettings(String)
    case revocationFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidClusterKey(let r): return "cluster-api authentication: invalid cluster key: \(r)"
        case .invalidSettings(let r): return "cluster-api authentication: invalid settings: \(r)"
        case .revocationFile(let p, let r): return "token revocation file \(p): \(r)"
        }
    }
}

/// The claims of a token: 4.8.1's names and values, plus `iat` (the issue time with its fraction, so that
/// a revocation separates the tokens issued just before it from those issued just after in the same second).
struct APITokenPayload: JWTPayload, Equatable {
    var iss: String
    var aud: String
    var nbf: Int
    var exp: Int
    var iat: Double?
    var sub: String
    var run_as: Bool
    var rbac_roles: [Int]
    var rbac_mode: String

    static let issuer = "wazuh"
    static let audience = "Wazuh API REST"

    /// What does not depend on time (the times are checked by `APIAuth` against its clock).
    func verify(using algorithm: some JWTAlgorithm) async throws {
        guard iss == Self.issuer else { throw TokenClaimFailure(reason: "issuer '\(iss)' is not '\(Self.issuer)'") }
        guard aud == Self.audience else { throw TokenClaimFailure(reason: "audience '\(aud)' is not '\(Self.audience)'") }
        guard APIUsers.isValid(name: sub) else { throw TokenClaimFailure(reason: "subject '\(sub)' is not a user name") }
    }
}

struct TokenClaimFailure: Error {
    var reason: String
}

public final class APIAuth: Sendable {
    public struct Settings: Sendable {
        /// Seconds a token is valid (4.8.1 `auth_token_exp_timeout`).
        public var tokenLifetime: Int = 900
        /// Failed logins an address may make within `blockTime` (4.8.1 `access.max_login_attempts`).
        public var maxLoginAttempts: Int = 50
        /// The counting window and the length of a block, in seconds (4.8.1 `access.block_time`).
        public var blockTime: Int = 300
        /// The most client addresses whose failures are remembered (the least recently seen go first).
        public var maxTrackedAddresses: Int = 10_000
        public init() {}
    }

    /// `(problem, reason)` answers; the problems are 4.8.1's.
    static let invalidCredentials = APIProblem.unauthorized("Invalid credentials")
    static let noToken = APIProblem.unauthorized("No authorization token provided")
    static let invalidToken = APIProblem.unauthorized("Invalid token")
    static let loginBlocked = APIProblem(
        status: 403, title: "Permission Denied",
        detail: "Limit of login attempts reached. The current IP has been blocked due to a high number of login attempts",
        code: 6000)
    static let jwtInfo = "clusterd cluster-api jwt"

    public let home: String
    public let settings: Settings
    private let now: @Sendable () -> Double
    private let keys: JWTKeyCollection
    private let secret: SymmetricKey
    private let keysAdded = Mutex(false)
    private let throttle: Mutex<LoginThrottle>
    /// The last revocation this process made: it holds even while the stamp file is being replaced by the
    /// master's copy (a sync computed before the master's own stamp could remove the local file for a moment).
    private let revokedHere = Mutex<Double>(0)
    /// A bcrypt hash per cost, checked against when the user does not exist, so that an unknown user
    /// takes as long as a wrong password.
    private let dummyHashes = Mutex<[UInt8: String]>([:])

    /// home: the node home; clusterKey: the cluster key from ossec.conf (32 characters); now: seconds since
    /// 1970 (injected clock).
    public init(home: String, clusterKey: String, settings: Settings, now: @escaping @Sendable () -> Double) throws {
        guard !clusterKey.isEmpty else {
            throw APIAuthError.invalidClusterKey("empty (the tokens would be signed with a guessable secret)")
        }
        guard clusterKey.count == 32 else {
            throw APIAuthError.invalidClusterKey("\(clusterKey.count) characters instead of 32")
        }
        guard settings.tokenLifetime > 0 else { throw APIAuthError.invalidSettings("tokenLifetime \(settings.tokenLifetime) is not positive") }
        guard settings.maxLoginAttempts > 0 else { throw APIAuthError.invalidSettings("maxLoginAttempts \(settings.maxLoginAttempts) is not positive") }
        guard settings.blockTime > 0 else { throw APIAuthError.invalidSettings("blockTime \(settings.blockTime) is not positive") }
        guard settings.maxTrackedAddresses > 0 else {
            throw APIAuthError.invalidSettings("maxTrackedAddresses \(settings.maxTrackedAddresses) is not positive")
        }
        self.home = home
        self.settings = settings
        self.now = now
        self.secret = Self.signingKey(clusterKey: clusterKey)
        self.keys = JWTKeyCollection()
        self.throttle = Mutex(LoginThrottle(
            maxAttempts: settings.maxLoginAttempts, blockTime: Double(settings.blockTime), capacity: settings.maxTrackedAddresses))
    }

    /// The HS256 secret: HKDF-SHA256 of the cluster key, info "clusterd cluster-api jwt", 32 bytes.
    static func signingKey(clusterKey: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(clusterKey.utf8)), info: Data(jwtInfo.utf8), outputByteCount: 32)
    }

    /// `<home>/etc/cluster-api/revoked`: the epoch seconds of the last revocation (synced from the master
    /// to clusterd workers with the integrity files).
    public static func revocationPath(home: String) -> String {
        (home as NSString).appendingPathComponent("etc/cluster-api/revoked")
    }

    /// The key collection with the HS256 key in it (the collection is an actor: the key goes in at first use).
    private func collection() async -> JWTKeyCollection {
        if keysAdded.withLock({ $0 }) { return keys }
        await keys.add(hmac: HMACKey(key: secret), digestAlgorithm: .sha256)
        keysAdded.withLock { $0 = true }
        return keys
    }

    // MARK: - Login

    /// POST /security/user/authenticate: the Authorization header ("Basic base64(user:pass)") and the client
    /// address. Success: the JWT. Failure: 401 "Invalid credentials", 403 (error 6000) while the address is
    /// blocked, 500 when the users file cannot be read.
    /// The bcrypt check (a good part of a second at the default cost) runs on a Dispatch thread, not on the
    /// tasks' cooperative threads.
    public func authenticate(authorization: String?, remoteAddress: String) async -> Result<String, APIProblem> {
        await authenticateDetailed(authorization: authorization, remoteAddress: remoteAddress).mapError(\.problem)
    }

    /// `authenticate` with the reason of a refusal for the log.
    public func authenticateDetailed(authorization: String?, remoteAddress: String) async -> Result<String, AuthRefusal> {
        let start = now()
        switch throttle.withLock({ $0.begin(remoteAddress, now: start) }) {
        case .proceed: break
        case .blocked(let until):
            return .failure(AuthRefusal(problem: Self.loginBlocked,
                                        reason: "address \(remoteAddress) is blocked until \(Self.format(until))"))
        case .tooManyPending:
            return .failure(AuthRefusal(problem: Self.loginBlocked,
                                        reason: "address \(remoteAddress) has too many login attempts under way"))
        }
        let outcome = await checkCredentials(authorization)
        let failed: Bool
        switch outcome {
        case .failure(let r): failed = r.problem == Self.invalidCredentials
        case .success: failed = false
        }
        let startedBlock = throttle.withLock { $0.finish(remoteAddress, failed: failed, now: now()) }
        if startedBlock, case .failure(let r) = outcome {
            return .failure(AuthRefusal(problem: r.problem, reason: r.reason
                + "; address \(remoteAddress) is now blocked for \(settings.blockTime) s after more than \(settings.maxLoginAttempts) failures"))
        }
        return outcome
    }

    private func checkCredentials(_ authorization: String?) async -> Result<String, AuthRefusal> {
        func refuse(_ reason: String) -> Result<String, AuthRefusal> {
            .failure(AuthRefusal(problem: Self.invalidCredentials, reason: reason))
        }
        guard let authorization else { return refuse("no Authorization header") }
        guard let encoded = Self.credentials(authorization, scheme: "basic") else {
            return refuse("the Authorization header is not Basic credentials")
        }
        guard let decoded = Data(base64Encoded: encoded), let text = String(data: decoded, encoding: .utf8) else {
            return refuse("the Basic credentials are not base64 of UTF-8 text")
        }
        guard let colon = text.firstIndex(of: ":") else { return refuse("the Basic credentials have no ':'") }
        let name = String(text[..<colon]), password = String(text[text.index(after: colon)...])

        let users: [APIUserRecord]
        do {
            users = try APIUsers.load(home: home)
        } catch {
            return .failure(AuthRefusal(
                problem: APIProblem(status: 500, title: "Wazuh Internal Error", detail: "The API users could not be read"),
                reason: "\(error)"))
        }
        let user = users.first { $0.name == name }
        // Passwords bcrypt would cut or end early are never right (none can be stored, see APIUsers).
        let checkable = password.utf8.count <= APIUsers.maxPasswordBytes && !password.utf8.contains(0)
        let cost = users.lazy.compactMap { APIUsers.bcryptCost($0.hash) }.first ?? APIUsers.defaultCost
        let known = user?.hash
        let matches = await Self.offload { [self] in
            Bcrypt.verify(checkable ? password : "", hash: known ?? dummyHash(cost: cost))
        }
        guard let user else { return refuse("unknown user '\(Self.printable(name))'") }
        guard checkable, matches else { return refuse("wrong password for user '\(user.name)'") }
        return await issueToken(for: user.name)
    }

    private func dummyHash(cost: UInt8) -> String {
        if let h = dummyHashes.withLock({ $0[cost] }) { return h }
        let h = Bcrypt.hash(APIUsers.randomPassword(), cost: cost)
        dummyHashes.withLock { $0[cost] = h }
        return h
    }

    /// Runs slow CPU work (bcrypt) on a Dispatch thread and waits for it without holding a cooperative thread.
    private static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    private func issueToken(for name: String) async -> Result<String, AuthRefusal> {
        let issued = now()
        let nbf = Int(issued.rounded(.down))
        let payload = APITokenPayload(
            iss: APITokenPayload.issuer, aud: APITokenPayload.audience, nbf: nbf, exp: nbf + settings.tokenLifetime,
            iat: issued, sub: name, run_as: false, rbac_roles: [1], rbac_mode: "white")
        do {
            return .success(try await collection().sign(payload))
        } catch {
            return .failure(AuthRefusal(
                problem: APIProblem(status: 500, title: "Wazuh Internal Error", detail: "The token could not be created"),
                reason: "signing: \(error)"))
        }
    }

    // MARK: - Tokens

    /// A request's "Authorization: Bearer <jwt>": the user name, or 401 ("No authorization token provided"
    /// when there is none, "Invalid token" when it does not hold).
    public func verify(authorization: String?) async -> Result<String, APIProblem> {
        await verifyDetailed(authorization: authorization).mapError(\.problem)
    }

    /// `verify` with the reason of a refusal for the log: malformed, bad signature, wrong claims, not yet
    /// valid, expired, revoked, unknown user, unreadable users or revocation file.
    public func verifyDetailed(authorization: String?) async -> Result<String, AuthRefusal> {
        func invalid(_ reason: String) -> Result<String, AuthRefusal> {
            .failure(AuthRefusal(problem: Self.invalidToken, reason: reason))
        }
        guard let authorization else {
            return .failure(AuthRefusal(problem: Self.noToken, reason: "no Authorization header"))
        }
        guard let token = Self.credentials(authorization, scheme: "bearer") else {
            return .failure(AuthRefusal(problem: Self.noToken, reason: "the Authorization header is not a Bearer token"))
        }
        let payload: APITokenPayload
        do {
            payload = try await collection().verify(token, as: APITokenPayload.self)
        } catch let e as TokenClaimFailure {
            return invalid(e.reason)
        } catch let e as JWTError where e.errorType == .signatureVerificationFailed {
            return invalid("bad signature (not issued with this cluster's key)")
        } catch {
            return invalid("malformed token: \(error)")
        }
        let t = now()
        if t < Double(payload.nbf) { return invalid("not valid before \(Self.format(Double(payload.nbf)))") }
        if t >= Double(payload.exp) { return invalid("expired at \(Self.format(Double(payload.exp)))") }

        let revokedAt: Double
        do {
            revokedAt = max(try revocationStamp(), revokedHere.withLock { $0 })
        } catch {
            return invalid("\(error)")
        }
        let issued = payload.iat ?? Double(payload.nbf)
        if issued < revokedAt { return invalid("revoked (issued \(Self.format(issued)), tokens revoked \(Self.format(revokedAt)))") }

        do {
            guard try APIUsers.load(home: home).contains(where: { $0.name == payload.sub }) else {
                return invalid("user '\(payload.sub)' no longer exists")
            }
        } catch {
            return invalid("\(error)")
        }
        return .success(payload.sub)
    }

    // MARK: - Revocation

    /// PUT /security/user/revoke: every token issued before now becomes invalid, on every node that shares
    /// this home's revocation file. The stamp never goes back (a node whose clock is behind keeps the
    /// later stamp).
    public func revokeAll() throws {
        let path = Self.revocationPath(home: home)
        do {
            try AuthFiles.withLock(path + ".lock") {
                let stamp = max(now(), (try? revocationStamp()) ?? 0)
                revokedHere.withLock { $0 = max($0, stamp) }
                try AuthFiles.writeAtomically(Array(Self.formatStamp(stamp).utf8), to: path, mode: 0o600)
            }
        } catch let e as AuthFileFailure {
            throw APIAuthError.revocationFile(path: e.path, reason: e.description)
        }
    }

    /// The time of the last revocation; 0 when there was none. A file that cannot be read or parsed is an
    /// error (every token is refused rather than none).
    func revocationStamp() throws(APIAuthError) -> Double {
        let path = Self.revocationPath(home: home)
        let bytes: [UInt8]?
        do {
            bytes = try AuthFiles.readFile(path)
        } catch {
            throw .revocationFile(path: path, reason: error.description)
        }
        guard let bytes else { return 0 }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let stamp = Double(text), stamp.isFinite, stamp >= 0 else {
            throw .revocationFile(path: path, reason: "not a number of seconds: '\(Self.printable(text))'")
        }
        return stamp
    }

    /// How many client addresses the login bookkeeping holds now.
    var trackedAddresses: Int { throttle.withLock { $0.entries.count } }

    static func formatStamp(_ t: Double) -> String { String(format: "%.6f\n", t) }

    // MARK: - Helpers

    /// The credentials of an Authorization header of `scheme` (compared without case): the text after the
    /// scheme and its blanks, nil for another scheme or nothing after it.
    static func credentials(_ header: String, scheme: String) -> String? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard let space = h.firstIndex(of: " ") else { return nil }
        guard h[..<space].lowercased() == scheme else { return nil }
        let rest = h[space...].trimmingCharacters(in: .whitespaces)
        return rest.isEmpty ? nil : rest
    }

    static func format(_ t: Double) -> String {
        Date(timeIntervalSince1970: t).formatted(.iso8601)
    }

    /// A client-supplied text for a log line: control characters escaped, at most 64 characters.
    static func printable(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(64) {
            out += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return out
    }
}
