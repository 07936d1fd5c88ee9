@testable import ClusterAPI
import Common
import Foundation
import Testing

/// An APIAuth over `home` with alice (password "alice-secret") in its users file.
private func makeAuth(_ home: AuthHome, key: String = authKey, clock: AuthClock, settings: APIAuth.Settings = .init(),
                      addAlice: Bool = true) throws -> APIAuth {
    if addAlice { try APIUsers.add(home: home.path, name: "alice", password: "alice-secret", cost: authTestCost) }
    return try APIAuth(home: home.path, clusterKey: key, settings: settings, now: clock.function)
}

private func login(_ auth: APIAuth, _ user: String = "alice", _ password: String = "alice-secret",
                   from address: String = "192.0.2.1") async -> Result<String, APIProblem> {
    await auth.authenticate(authorization: basicHeader(user, password), remoteAddress: address)
}

private let invalidCredentials = APIProblem(status: 401, title: "Unauthorized", detail: "Invalid credentials")
private let invalidToken = APIProblem(status: 401, title: "Unauthorized", detail: "Invalid token")
private let noToken = APIProblem(status: 401, title: "Unauthorized", detail: "No authorization token provided")
private let blocked = APIProblem(
    status: 403, title: "Permission Denied",
    detail: "Limit of login attempts reached. The current IP has been blocked due to a high number of login attempts",
    code: 6000)

@Suite struct AuthLoginTests {
    @Test func rightCredentialsGiveA481Token() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000.75)
            let auth = try makeAuth(home, clock: clock)
            let token = try #require(await login(auth).authValue)
            let c = try jwtClaims(of: token)
            #expect(c["iss"] as? String == "wazuh")
            #expect(c["aud"] as? String == "Wazuh API REST")
            #expect(c["sub"] as? String == "alice")
            #expect(c["run_as"] as? Bool == false)
            #expect(c["rbac_roles"] as? [Int] == [1])
            #expect(c["rbac_mode"] as? String == "white")
            #expect(c["nbf"] as? Int == 1_800_000_000)
            #expect(c["exp"] as? Int == 1_800_000_900)
            // The header says HS256.
            let header = String(token.split(separator: ".")[0])
            var b64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b64.count % 4 != 0 { b64 += "=" }
            let h = try #require(try JSONSerialization.jsonObject(with: Data(base64Encoded: b64) ?? Data()) as? [String: Any])
            #expect(h["alg"] as? String == "HS256")

            #expect(await auth.verify(authorization: bearerHeader(token)) == .success("alice"))
            // The scheme is read without case.
            #expect(await auth.verify(authorization: "bearer  \(token) ") == .success("alice"))
            #expect(await auth.authenticate(authorization: "basic " + Data("alice:alice-secret".utf8).base64EncodedString(),
                                            remoteAddress: "192.0.2.1").authValue != nil)
        }
    }

    @Test func tokenLifetimeComesFromTheSettings() async throws {
        try await withAuthHome { home in
            var settings = APIAuth.Settings()
            settings.tokenLifetime = 60
            let auth = try makeAuth(home, clock: AuthClock(1_000), settings: settings)
            let c = try jwtClaims(of: try #require(await login(auth).authValue))
            #expect(c["exp"] as? Int == 1_060)
        }
    }

    @Test func wrongMissingAndGarbledCredentialsAre401() async throws {
        try await withAuthHome { home in
            let auth = try makeAuth(home, clock: AuthClock())
            let headers: [String?] = [
                basicHeader("alice", "wrong-secret"),
                basicHeader("alice", "alice-secret" + "x"),
                basicHeader("alice", ""),
                basicHeader("mallory", "alice-secret"),
                basicHeader("", "alice-secret"),
                nil,
                "",
                "Basic",
                "Basic ",
                "Basic !!!not-base64!!!",
                "Basic " + Data("alice-without-colon".utf8).base64EncodedString(),
                "Basic " + Data([0x61, 0x3A, 0xFF, 0xFE]).base64EncodedString(),
                "Basic " + Data("alice:alice-secret\u{0}trailing".utf8).base64EncodedString(),
                "Bearer " + Data("alice:alice-secret".utf8).base64EncodedString(),
                Data("alice:alice-secret".utf8).base64EncodedString(),
            ]
            for header in headers {
                let answer = await auth.authenticate(authorization: header, remoteAddress: "192.0.2.1")
                #expect(answer == .failure(invalidCredentials), "\(header ?? "nil")")
            }
            // The body is exactly 4.8.1's.
            #expect(invalidCredentials.json == .object(JSONObject([("title", .string("Unauthorized")), ("detail", .string("Invalid credentials"))])))
            // The reasons tell the cases apart for the log.
            let unknown = await auth.authenticateDetailed(authorization: basicHeader("mallory", "x-secret-x"), remoteAddress: "192.0.2.2")
            #expect(unknown.authError?.reason.contains("unknown user 'mallory'") == true)
            let wrong = await auth.authenticateDetailed(authorization: basicHeader("alice", "x-secret-x"), remoteAddress: "192.0.2.2")
            #expect(wrong.authError?.reason.contains("wrong password for user 'alice'") == true)
            let missing = await auth.authenticateDetailed(authorization: nil, remoteAddress: "192.0.2.2")
            #expect(missing.authError?.reason == "no Authorization header")
            // The right credentials still work (16 failures are below the default limit).
            #expect(await login(auth).authValue != nil)
        }
    }

    @Test func setupIsValidated() async throws {
        try await withAuthHome { home in
            let clock = AuthClock()
            #expect(throws: APIAuthError.self) { try APIAuth(home: home.path, clusterKey: "", settings: .init(), now: clock.function) }
            #expect(throws: APIAuthError.self) { try APIAuth(home: home.path, clusterKey: "short", settings: .init(), now: clock.function) }
            var s = APIAuth.Settings()
            s.tokenLifetime = 0
            #expect(throws: APIAuthError.self) { try APIAuth(home: home.path, clusterKey: authKey, settings: s, now: clock.function) }
            s = APIAuth.Settings()
            s.maxLoginAttempts = 0
            #expect(throws: APIAuthError.self) { try APIAuth(home: home.path, clusterKey: authKey, settings: s, now: clock.function) }
            s = APIAuth.Settings()
            s.blockTime = -1
            #expect(throws: APIAuthError.self) { try APIAuth(home: home.path, clusterKey: authKey, settings: s, now: clock.function) }
        }
    }
}

@Suite struct AuthTokenTests {
    @Test func aTokenVerifiesOnAnotherNodeWithTheSameKeyOnly() async throws {
        try await withAuthHomes { a, b in
            let clock = AuthClock()
            let master = try makeAuth(a, clock: clock)
            // The other node has its own users file (its own hash of the same password) and the same key.
            let worker = try makeAuth(b, clock: clock)
            let token = try #require(await login(master).authValue)
            #expect(await worker.verify(authorization: bearerHeader(token)) == .success("alice"))
            let back = try #require(await login(worker).authValue)
            #expect(await master.verify(authorization: bearerHeader(back)) == .success("alice"))

            // Another cluster (another key) refuses it, for its signature.
            let stranger = try APIAuth(home: b.path, clusterKey: authOtherKey, settings: .init(), now: clock.function)
            let refused = await stranger.verifyDetailed(authorization: bearerHeader(token))
            #expect(refused.authError?.problem == invalidToken)
            #expect(refused.authError?.reason.contains("signature") == true)
            #expect(await stranger.verify(authorization: bearerHeader(token)) == .failure(invalidToken))
        }
    }

    @Test func missingAndMalformedTokens() async throws {
        try await withAuthHome { home in
            let clock = AuthClock()
            let auth = try makeAuth(home, clock: clock)
            #expect(await auth.verify(authorization: nil) == .failure(noToken))
            #expect(await auth.verify(authorization: "Bearer") == .failure(noToken))
            #expect(await auth.verify(authorization: basicHeader("alice", "alice-secret")) == .failure(noToken))
            for garbage in ["x", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "....", String(repeating: "A", count: 5000)] {
                #expect(await auth.verify(authorization: bearerHeader(garbage)) == .failure(invalidToken), "\(garbage.prefix(40))")
            }

            // A token whose claims were changed (here the user) keeps its signature and is refused.
            let token = try #require(await login(auth).authValue)
            try APIUsers.add(home: home.path, name: "root", password: "root-secret", cost: authTestCost)
            let parts = token.split(separator: ".").map(String.init)
            var claims = try jwtClaims(of: token)
            claims["sub"] = "root"
            let forged = try JSONSerialization.data(withJSONObject: claims).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let tampered = [parts[0], forged, parts[2]].joined(separator: ".")
            let answer = await auth.verifyDetailed(authorization: bearerHeader(tampered))
            #expect(answer.authError?.problem == invalidToken)
            #expect(answer.authError?.reason.contains("signature") == true)
            // alg "none" with no signature.
            let none = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "=", with: "")
            #expect(await auth.verify(authorization: bearerHeader("\(none).\(parts[1]).")) == .failure(invalidToken))
            #expect(await auth.verify(authorization: bearerHeader(token)) == .success("alice"))
        }
    }

    @Test func tokensExpireOnTheInjectedClock() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock)
            let token = try #require(await login(auth).authValue)
            clock.advance(899.5)
            #expect(await auth.verify(authorization: bearerHeader(token)) == .success("alice"))
            clock.advance(0.5)
            let expired = await auth.verifyDetailed(authorization: bearerHeader(token))
            #expect(expired.authError?.problem == invalidToken)
            #expect(expired.authError?.reason.contains("expired") == true)

            // A node whose clock is behind the issuer's does not take it before its nbf.
            let behind = AuthClock(1_800_000_000 - 10)
            let lagging = try APIAuth(home: home.path, clusterKey: authKey, settings: .init(), now: behind.function)
            let early = await lagging.verifyDetailed(authorization: bearerHeader(token))
            #expect(early.authError?.problem == invalidToken)
            #expect(early.authError?.reason.contains("not valid before") == true)
        }
    }

    @Test func revocationRefusesEarlierTokensOnEveryNodeSharingTheHome() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock)
            let other = try APIAuth(home: home.path, clusterKey: authKey, settings: .init(), now: clock.function)
            let old = try #require(await login(auth).authValue)
            clock.advance(0.25)
            let sameSecond = try #require(await login(auth).authValue)
            clock.advance(0.25)
            try auth.revokeAll()
            #expect(FileManager.default.fileExists(atPath: APIAuth.revocationPath(home: home.path)))
            #expect(authFileMode(APIAuth.revocationPath(home: home.path)) == 0o600)

            for node in [auth, other] {
                for token in [old, sameSecond] {
                    let answer = await node.verifyDetailed(authorization: bearerHeader(token))
                    #expect(answer.authError?.problem == invalidToken)
                    #expect(answer.authError?.reason.contains("revoked") == true)
                }
            }
            // A token issued after the revocation, even within the same second, is good.
            clock.advance(0.25)
            let fresh = try #require(await login(auth).authValue)
            #expect(await other.verify(authorization: bearerHeader(fresh)) == .success("alice"))

            // A node whose clock is behind does not move the stamp back.
            let behind = AuthClock(1_800_000_000 - 3600)
            let lagging = try APIAuth(home: home.path, clusterKey: authKey, settings: .init(), now: behind.function)
            try lagging.revokeAll()
            #expect(await auth.verify(authorization: bearerHeader(old)) == .failure(invalidToken))
            #expect(await auth.verify(authorization: bearerHeader(fresh)) == .success("alice"))

            // A second revocation later refuses the fresh token too.
            clock.advance(10)
            try other.revokeAll()
            #expect(await auth.verify(authorization: bearerHeader(fresh)) == .failure(invalidToken))
        }
    }

    @Test func anUnreadableRevocationFileRefusesEveryToken() async throws {
        try await withAuthHome { home in
            let clock = AuthClock()
            let auth = try makeAuth(home, clock: clock)
            let token = try #require(await login(auth).authValue)
            try Data("yesterday".utf8).write(to: URL(fileURLWithPath: APIAuth.revocationPath(home: home.path)))
            let answer = await auth.verifyDetailed(authorization: bearerHeader(token))
            #expect(answer.authError?.problem == invalidToken)
            #expect(answer.authError?.reason.contains("cluster-api/revoked") == true)
        }
    }

    @Test func aDeletedUsersTokenIsRefused() async throws {
        try await withAuthHome { home in
            let clock = AuthClock()
            let auth = try makeAuth(home, clock: clock)
            try APIUsers.add(home: home.path, name: "bob", password: "bob-secret", cost: authTestCost)
            let alice = try #require(await login(auth).authValue)
            let bob = try #require(await login(auth, "bob", "bob-secret").authValue)
            try APIUsers.delete(home: home.path, name: "alice")
            let answer = await auth.verifyDetailed(authorization: bearerHeader(alice))
            #expect(answer.authError?.problem == invalidToken)
            #expect(answer.authError?.reason.contains("alice") == true)
            #expect(await auth.verify(authorization: bearerHeader(bob)) == .success("bob"))
            #expect(await login(auth) == .failure(invalidCredentials))
        }
    }
}

@Suite struct AuthBlockingTests {
    private func settings(attempts: Int, block: Int) -> APIAuth.Settings {
        var s = APIAuth.Settings()
        s.maxLoginAttempts = attempts
        s.blockTime = block
        return s
    }

    @Test func anAddressIsBlockedAfterTooManyFailuresUntilBlockTimePasses() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock, settings: settings(attempts: 3, block: 60))
            let attacker = "198.51.100.7"
            // maxLoginAttempts + 1 failures are answered as failures ...
            for _ in 0..<4 {
                #expect(await login(auth, "alice", "guess-guess", from: attacker) == .failure(invalidCredentials))
                clock.advance(1)
            }
            // ... and then the address is blocked, right credentials included.
            #expect(await login(auth, from: attacker) == .failure(blocked))
            #expect(await login(auth, "alice", "guess-guess", from: attacker) == .failure(blocked))
            #expect(blocked.json == .object(JSONObject([
                ("title", .string("Permission Denied")),
                ("detail", .string("Limit of login attempts reached. The current IP has been blocked due to a high number of login attempts")),
                ("error", .int(6000)),
            ])))
            // Another address keeps working.
            #expect(await login(auth, from: "198.51.100.8").authValue != nil)
            #expect(await login(auth, "alice", "guess-guess", from: "198.51.100.8") == .failure(invalidCredentials))

            // The block started with the 4th failure (3 s after the start) and lasts 60 s.
            clock.set(1_800_000_003 + 59.9)
            let still = await auth.authenticateDetailed(authorization: basicHeader("alice", "alice-secret"), remoteAddress: attacker)
            #expect(still.authError?.problem == blocked)
            #expect(still.authError?.reason.contains("blocked until") == true)
            clock.set(1_800_000_003 + 60)
            let token = try #require(await login(auth, from: attacker).authValue)
            #expect(await auth.verify(authorization: bearerHeader(token)) == .success("alice"))
            // Afresh: it takes another 4 failures to block it again.
            for _ in 0..<4 {
                #expect(await login(auth, "alice", "guess-guess", from: attacker) == .failure(invalidCredentials))
            }
            #expect(await login(auth, from: attacker) == .failure(blocked))
        }
    }

    @Test func failuresOlderThanBlockTimeDoNotCount() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock, settings: settings(attempts: 3, block: 60))
            for round in 0..<5 {
                for _ in 0..<3 {
                    #expect(await login(auth, "alice", "guess-guess") == .failure(invalidCredentials), "round \(round)")
                }
                clock.advance(60)
            }
            #expect(await login(auth).authValue != nil)
            // But 4 within the window block.
            for _ in 0..<3 {
                #expect(await login(auth, "alice", "guess-guess") == .failure(invalidCredentials))
                clock.advance(19)
            }
            #expect(await login(auth, "alice", "guess-guess") == .failure(invalidCredentials))
            #expect(await login(auth) == .failure(blocked))
        }
    }

    @Test func aSuccessDoesNotUnblock() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock, settings: settings(attempts: 2, block: 30))
            for _ in 0..<2 { _ = await login(auth, "alice", "guess-guess") }
            #expect(await login(auth).authValue != nil)
            #expect(await login(auth, "alice", "guess-guess") == .failure(invalidCredentials))
            #expect(await login(auth) == .failure(blocked))
            clock.advance(29)
            #expect(await login(auth) == .failure(blocked))
        }
    }

    @Test func internalErrorsAreNotCountedAsFailures() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock, settings: settings(attempts: 1, block: 60))
            let good = try Data(contentsOf: URL(fileURLWithPath: home.usersFile))
            try Data("{broken".utf8).write(to: URL(fileURLWithPath: home.usersFile))
            for _ in 0..<5 {
                let answer = await auth.authenticateDetailed(authorization: basicHeader("alice", "alice-secret"), remoteAddress: "192.0.2.9")
                #expect(answer.authError?.problem.status == 500)
                #expect(answer.authError?.reason.contains("cluster-api/users.json") == true)
            }
            try good.write(to: URL(fileURLWithPath: home.usersFile))
            #expect(await login(auth, from: "192.0.2.9").authValue != nil)
        }
    }

    @Test func theTableOfAddressesIsBounded() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            var s = settings(attempts: 2, block: 300)
            s.maxTrackedAddresses = 20
            let auth = try makeAuth(home, clock: clock, settings: s)
            // One blocked address, then a scan from many others.
            for _ in 0..<3 { _ = await login(auth, "alice", "guess-guess", from: "203.0.113.1") }
            for i in 0..<200 {
                _ = await login(auth, "alice", "guess-guess", from: "10.0.\(i / 256).\(i % 256)")
                #expect(auth.trackedAddresses <= 20)
                clock.advance(0.01)
            }
            // The blocked address was kept over the scanners.
            #expect(await login(auth, from: "203.0.113.1") == .failure(blocked))
            #expect(auth.trackedAddresses <= 20)
        }
    }

    @Test func parallelAttemptsCannotOutrunTheLimit() async throws {
        try await withAuthHome { home in
            let clock = AuthClock(1_800_000_000)
            let auth = try makeAuth(home, clock: clock, settings: settings(attempts: 5, block: 60))
            let answers = await withTaskGroup(of: Result<String, APIProblem>.self) { group in
                for _ in 0..<40 { group.addTask { await login(auth, "alice", "guess-guess") } }
                var all: [Result<String, APIProblem>] = []
                for await a in group { all.append(a) }
                return all
            }
            let checked = answers.filter { $0 == .failure(invalidCredentials) }.count
            #expect(checked <= 6)
            #expect(checked + answers.filter { $0 == .failure(blocked) }.count == 40)
            #expect(await login(auth) == .failure(blocked))
        }
    }
}

@Suite struct AuthThrottleTests {
    @Test func pendingAttemptsCountAgainstTheLimit() {
        var t = LoginThrottle(maxAttempts: 2, blockTime: 10, capacity: 100)
        do { let r = t.begin("a", now: 0); #expect(r == .proceed) }
        do { let r = t.begin("a", now: 0); #expect(r == .proceed) }
        do { let r = t.begin("a", now: 0); #expect(r == .proceed) }
        do { let r = t.begin("a", now: 0); #expect(r == .tooManyPending) }
        // Successes free the slots again.
        t.finish("a", failed: false, now: 0)
        t.finish("a", failed: false, now: 0)
        t.finish("a", failed: false, now: 0)
        #expect(t.entries["a"] == nil)
        do { let r = t.begin("a", now: 1); #expect(r == .proceed) }
        do { let r = t.finish("a", failed: true, now: 1); #expect(!r) }
        do { let r = t.begin("a", now: 1); #expect(r == .proceed) }
        do { let r = t.finish("a", failed: true, now: 1); #expect(!r) }
        do { let r = t.begin("a", now: 2); #expect(r == .proceed) }
        do { let r = t.finish("a", failed: true, now: 2); #expect(r) }
        do { let r = t.begin("a", now: 11.9); #expect(r == .blocked(until: 12)) }
        do { let r = t.begin("a", now: 12); #expect(r == .proceed) }
    }

    @Test func evictionForgetsIdleAddressesFirst() {
        var t = LoginThrottle(maxAttempts: 1, blockTime: 10, capacity: 3)
        _ = t.begin("blocked", now: 0); t.finish("blocked", failed: true, now: 0)
        _ = t.begin("blocked", now: 0); do { let r = t.finish("blocked", failed: true, now: 0); #expect(r) }
        for (i, address) in ["b", "c", "d", "e"].enumerated() {
            #expect(t.begin(address, now: Double(i + 1)) == .proceed)
            t.finish(address, failed: true, now: Double(i + 1))
            #expect(t.entries.count <= 3)
        }
        #expect(t.entries["blocked"] != nil)
        #expect(t.entries["e"] != nil)
        // Once their failures age out, entries are dropped before anything else.
        do { let r = t.begin("f", now: 20); #expect(r == .proceed) }
        t.finish("f", failed: true, now: 20)
        #expect(t.entries.keys.sorted() == ["f"])
    }
}
