import Crypto
import CryptoExtras
import Foundation

/// Fernet tokens (PROTOCOL.md §2): `0x80 ‖ timestamp(8, BE) ‖ IV(16) ‖ AES-128-CBC/PKCS7 ‖ HMAC-SHA256(32)`,
/// base64url with padding. Interoperates with Python's `cryptography.fernet` both ways.
///
/// The cluster key's 32 ASCII bytes are the raw Fernet key: bytes 0..15 sign, bytes 16..31 encrypt.
public struct Fernet: Sendable {
    private let signingKey: SymmetricKey
    private let encryptionKey: SymmetricKey

    public enum KeyError: Error, Equatable, CustomStringConvertible {
        case wrongLength(Int)
        case notAlphanumeric
        case badBase64
        public var description: String {
            switch self {
            case .wrongLength(let n): return "cluster key must be 32 characters long, got \(n)"
            case .notAlphanumeric: return "cluster key must be alphanumeric (letters, digits and '_')"
            case .badBase64: return "Fernet key is not valid base64url of 32 bytes"
            }
        }
    }

    /// Checks a cluster key as the 4.8.1 configuration check does: exactly 32 characters of `\w`.
    public static func validateClusterKey(_ key: String) throws {
        let bytes = Array(key.utf8)
        guard bytes.count == 32 else { throw KeyError.wrongLength(key.count) }
        guard bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F })
        else { throw KeyError.notAlphanumeric }
    }

    /// A Fernet from a cluster key (32 ASCII characters).
    public init(clusterKey: String) throws {
        try Self.validateClusterKey(clusterKey)
        self.init(rawKey: Array(clusterKey.utf8))
    }

    /// A Fernet from the standard base64url key text (as Python's `Fernet(key)` takes it).
    public init(base64Key: String) throws {
        guard let raw = Base64URL.decode(Array(base64Key.utf8)), raw.count == 32 else { throw KeyError.badBase64 }
        self.init(rawKey: raw)
    }

    public init(rawKey: [UInt8]) {
        precondition(rawKey.count == 32, "Fernet key is 32 bytes")
        signingKey = SymmetricKey(data: rawKey[0..<16])
        encryptionKey = SymmetricKey(data: rawKey[16..<32])
    }

    /// Length of the token for an n-byte plaintext.
    public static func tokenLength(plaintextLength n: Int) -> Int {
        Base64URL.encodedLength(1 + 8 + 16 + (n / 16 + 1) * 16 + 32)
    }

    /// Encrypts `plaintext`. `timestamp` and `iv` are for test vectors; production uses now and random.
    public func encrypt<C: ContiguousBytes>(_ plaintext: C, timestamp: UInt64? = nil, iv: [UInt8]? = nil) -> [UInt8] {
        let ts = timestamp ?? UInt64(max(0, Date().timeIntervalSince1970))
        var ivBytes = iv ?? []
        if ivBytes.isEmpty {
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<2 { withUnsafeBytes(of: rng.next() as UInt64) { ivBytes.append(contentsOf: $0) } }
        }
        precondition(ivBytes.count == 16)
        let ciphertext: Data = plaintext.withUnsafeBytes { raw in
            // AES-CBC with a valid key and IV size cannot fail.
            try! AES._CBC.encrypt(raw, using: encryptionKey, iv: try! AES._CBC.IV(ivBytes: ivBytes))
        }
        var token = [UInt8]()
        token.reserveCapacity(25 + ciphertext.count + 32)
        token.append(0x80)
        for shift in stride(from: 56, through: 0, by: -8) { token.append(UInt8(truncatingIfNeeded: ts >> UInt64(shift))) }
        token.append(contentsOf: ivBytes)
        token.append(contentsOf: ciphertext)
        let mac = HMAC<SHA256>.authenticationCode(for: token, using: signingKey)
        token.append(contentsOf: mac)
        return Base64URL.encode(token)
    }

    /// Why a token was refused.
    public enum TokenError: Error, Equatable, CustomStringConvertible {
        case invalidBase64, tooShort, badVersion, badMAC, badBlockSize, badPadding, expired, futureTimestamp
        public var description: String {
            switch self {
            case .invalidBase64: return "token is not valid base64url"
            case .tooShort: return "token is too short"
            case .badVersion: return "token version byte is not 0x80"
            case .badMAC: return "HMAC does not match (wrong key or damaged token)"
            case .badBlockSize: return "ciphertext is not a whole number of AES blocks"
            case .badPadding: return "PKCS7 padding is invalid"
            case .expired: return "token has expired"
            case .futureTimestamp: return "token timestamp is too far in the future"
            }
        }
    }

    /// Decrypts a token. The cluster uses no TTL (`ttl` nil): clock skew between nodes does not matter.
    /// With a TTL, a token older than `ttl` or more than 60 s in the future is refused, as the spec says.
    public func decrypt<C: ContiguousBytes>(_ token: C, ttl: UInt64? = nil, now: UInt64? = nil) throws(TokenError) -> [UInt8] {
        guard let raw = Base64URL.decode(token) else { throw .invalidBase64 }
        guard raw.count >= 1 + 8 + 16 + 32 else { throw .tooShort }
        guard raw[0] == 0x80 else { throw .badVersion }
        let macStart = raw.count - 32
        let ctCount = macStart - 25
        guard ctCount > 0, ctCount % 16 == 0 else { throw .badBlockSize }
        let valid = raw.withUnsafeBytes { all in
            HMAC<SHA256>.isValidAuthenticationCode(
                UnsafeRawBufferPointer(rebasing: all[macStart...]),
                authenticating: UnsafeRawBufferPointer(rebasing: all[..<macStart]),
                using: signingKey)
        }
        guard valid else { throw .badMAC }
        if let ttl {
            var ts: UInt64 = 0
            for i in 1...8 { ts = ts << 8 | UInt64(raw[i]) }
            let current = now ?? UInt64(Date().timeIntervalSince1970)
            if ts > current + 60 { throw .futureTimestamp }
            if ts + ttl < current { throw .expired }
        }
        let plain: Data
        do {
            plain = try raw.withUnsafeBytes { all in
                try AES._CBC.decrypt(UnsafeRawBufferPointer(rebasing: all[25..<macStart]), using: encryptionKey,
                                     iv: AES._CBC.IV(ivBytes: raw[9..<25]))
            }
        } catch { throw .badPadding }
        return [UInt8](plain)
    }
}
