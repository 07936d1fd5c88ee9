import Foundation
import Testing
@testable import Common

/// The published Fernet specification vectors (github.com/fernet/spec: generate.json, verify.json,
/// invalid.json). Secret `cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=`; "now" 1985-10-26T01:20:01-07:00
/// is 499162801 s, and the token timestamp 1985-10-26T01:20:00-07:00 is 499162800 s.
@Suite struct FernetSpecVectorTests {
    static let secret = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
    static let token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="

    @Test func generate() throws {
        let f = try Fernet(base64Key: Self.secret)
        let token = f.encrypt(Array("hello".utf8), timestamp: 499162800, iv: Array(0..<16))
        #expect(String(decoding: token, as: UTF8.self) == Self.token)
    }

    @Test func verify() throws {
        let f = try Fernet(base64Key: Self.secret)
        let plain = try f.decrypt(Array(Self.token.utf8), ttl: 60, now: 499162801)
        #expect(plain == Array("hello".utf8))
    }

    @Test(arguments: [
        ("incorrect mac", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFBQUFBQQ==", 499162801, Fernet.TokenError.badMAC),
        ("too short", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==", 499162801, .tooShort),
        ("invalid base64", "%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==", 499162801, .invalidBase64),
        ("payload size not multiple of block size", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_v7mrfyudzUm", 499162801, .badBlockSize),
        ("payload padding error", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbkuKNqOhw==", 499162801, .badPadding),
        ("far-future TS (unacceptable clock skew)", "gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJmw2Xc2a6kBd-iX9b_qXQcw==", 499162801, .futureTimestamp),
        ("expired TTL", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==", 499162891, .expired),
        ("incorrect IV (causes padding error)", "gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvcZjK1zQ==", 499162801, .badPadding),
    ] as [(String, String, UInt64, Fernet.TokenError)])
    func invalid(desc: String, token: String, now: UInt64, expected: Fernet.TokenError) throws {
        let f = try Fernet(base64Key: Self.secret)
        #expect(throws: expected, "\(desc)") { try f.decrypt(Array(token.utf8), ttl: 60, now: now) }
    }

    @Test func tokenLengthFormula() throws {
        let f = try Fernet(clusterKey: fixtureKey)
        for (n, expected) in [(0, 100), (16, 120), (100, 228)] {
            #expect(f.encrypt([UInt8](repeating: 7, count: n)).count == expected)
            #expect(Fernet.tokenLength(plaintextLength: n) == expected)
        }
    }

    @Test func clusterKeyValidation() {
        #expect(throws: Fernet.KeyError.wrongLength(31)) { try Fernet(clusterKey: String(repeating: "a", count: 31)) }
        #expect(throws: Fernet.KeyError.notAlphanumeric) { try Fernet(clusterKey: String(repeating: "a", count: 31) + "-") }
        #expect(throws: Never.self) { try Fernet(clusterKey: fixtureKey) }
    }

    @Test func wrongKeyIsABadMAC() throws {
        let a = try Fernet(clusterKey: fixtureKey)
        let b = try Fernet(clusterKey: "AnotherKeyAnotherKeyAnotherKey12")
        #expect(throws: Fernet.TokenError.badMAC) { try b.decrypt(a.encrypt(Array("x".utf8))) }
    }
}

/// Interoperability with Python's `cryptography.fernet`, the implementation Wazuh nodes use.
@Suite struct FernetPythonInteropTests {
    static let script = """
    import sys, base64
    from cryptography.fernet import Fernet
    key = base64.urlsafe_b64encode(sys.argv[2].encode())
    f = Fernet(key)
    if sys.argv[1] == "encrypt":
        sys.stdout.write(f.encrypt(sys.stdin.buffer.read()).decode())
    else:
        sys.stdout.write(f.decrypt(sys.stdin.buffer.read()).hex())
    """

    @Test(arguments: [0, 1, 15, 16, 17, 1000, 70_000])
    func bothWays(size: Int) throws {
        var g = SplitMix64(seed: UInt64(size) + 11)
        let plain = randomBytes(size, using: &g)
        let f = try Fernet(clusterKey: fixtureKey)
        // Ours → Python.
        let ours = f.encrypt(plain)
        let decrypted = try run("/usr/bin/env", ["python3", "-c", Self.script, "decrypt", fixtureKey], stdin: ours)
        #expect(decrypted.status == 0, "python stderr: \(decrypted.stderr)")
        #expect(decrypted.stdoutText == plain.map { String(format: "%02x", $0) }.joined())
        // Python → ours.
        let theirs = try run("/usr/bin/env", ["python3", "-c", Self.script, "encrypt", fixtureKey], stdin: plain)
        #expect(theirs.status == 0, "python stderr: \(theirs.stderr)")
        #expect(try f.decrypt(Array(theirs.stdoutText.utf8)) == plain)
    }
}
