import Common
import Crypto
import FuzzSupport

/// Fernet tokens as a peer sends them (`Fernet.decrypt`, `Base64URL.decode`). Three readings of one input:
/// as token text; as the raw token body (version, timestamp, IV, ciphertext) signed here with the key, so
/// the checks behind the HMAC (block size, padding, TTL) are reached; and as a plaintext that must come
/// back from a token made of it.
enum FernetHarness {
    static let key = Array(FuzzInput.fixtureKey.utf8)
    static let fernet = Fernet(rawKey: key)

    static func run(_ bytes: [UInt8]) {
        // 1. Token text.
        if let raw = Base64URL.decode(bytes) {
            // Non-canonical padding bits decode too (as Python's decoder accepts them), so only this way holds.
            guard Base64URL.decode(Base64URL.encode(raw)) == raw else { FuzzInput.violated("base64url encode/decode is not the identity") }
        }
        _ = try? fernet.decrypt(bytes)
        _ = try? fernet.decrypt(bytes, ttl: 60, now: 1_700_000_000)
        _ = try? Fernet(base64Key: String(decoding: bytes, as: UTF8.self))

        // 2. A token body signed with the right key: only the layout and padding can make it fail.
        var body = bytes
        body += HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key[0..<16]))
        let signed = Base64URL.encode(body)
        do {
            let plain = try fernet.decrypt(signed)
            guard plain.count <= max(0, bytes.count - 25) else { FuzzInput.violated("plaintext longer than its ciphertext") }
        } catch .badMAC {
            FuzzInput.violated("a token signed with the key was refused as badly signed")
        } catch {}

        // 3. Round trip.
        let token = fernet.encrypt(bytes, timestamp: 1_700_000_000, iv: Array(repeating: 7, count: 16))
        guard token.count == Fernet.tokenLength(plaintextLength: bytes.count) else {
            FuzzInput.violated("token of \(token.count) bytes, tokenLength says \(Fernet.tokenLength(plaintextLength: bytes.count))")
        }
        guard (try? fernet.decrypt(token)) == bytes else { FuzzInput.violated("a token did not decrypt to its plaintext") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FernetHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-fernet", FernetHarness.run) } }
#endif
