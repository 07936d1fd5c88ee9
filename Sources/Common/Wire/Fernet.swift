import CLibCrypto
import CWireKernels
import Foundation

/// Fernet tokens (PROTOCOL.md §2): `0x80 ‖ timestamp(8, BE) ‖ IV(16) ‖ AES-128-CBC/PKCS7 ‖ HMAC-SHA256(32)`,
/// base64url with padding. Interoperates with Python's `cryptography.fernet` both ways.
///
/// The cluster key's 32 ASCII bytes are the raw Fernet key: bytes 0..15 sign, bytes 16..31 encrypt.
///
/// Both directions make one pass over the message in chunks of `chunkBytes` token bytes that stay in the
/// L1/L2 cache: encrypting, a chunk of plaintext is CBC-encrypted into a scratch buffer, hashed there and
/// base64-encoded straight into the token; decrypting, a chunk of the token is base64-decoded into the
/// scratch buffer, hashed there and CBC-decrypted straight into the plaintext. Nothing is copied whole and
/// no intermediate buffer of the message's size exists. A decrypted plaintext is handed out only after
/// the HMAC over everything has matched; the padding is looked at only then. AES is libcrypto's (AES-NI),
/// base64url is `Base64URL`'s (AVX2 where the CPU has it). SHA-256 is `CWireKernels`' SHA-NI code where the
/// CPU has SHA-NI and AVX2, and then decrypting decodes and hashes in one loop whose two halves the CPU
/// overlaps (SHA-NI's rounds are one long dependency chain); elsewhere it is libcrypto's.
public struct Fernet: Sendable {
    private let encryptionKey: [UInt8]
    /// The signing key XOR 0x36 and XOR 0x5c, padded to SHA-256's 64-byte block (RFC 2104).
    private let innerPad: [UInt8]
    private let outerPad: [UInt8]
    /// Base64url through the AVX2 kernels.
    private let vector: Bool
    /// SHA-256 through SHA-NI, and decoding stitched to hashing.
    private let stitched: Bool

    /// What this CPU runs: the AVX2 base64url kernels, and SHA-NI (used with them only).
    static let vectorAvailable = Base64URL.vectorAvailable
    static let stitchedAvailable = Base64URL.vectorAvailable && cwk_sha_available() != 0

    /// Token bytes per chunk of the single pass: a multiple of 3 (base64 groups) and of 64 (SHA-256 blocks).
    static let chunkBytes = 192 * 85  // 16,320

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
        self.init(rawKey: rawKey, vector: Self.vectorAvailable, stitched: Self.stitchedAvailable)
    }

    /// With the kernels chosen (tests run every path the CPU has).
    init(rawKey: [UInt8], vector: Bool, stitched: Bool) {
        precondition(rawKey.count == 32, "Fernet key is 32 bytes")
        precondition(vector || !stitched, "the stitched path needs the vector kernels")
        precondition((!vector || Self.vectorAvailable) && (!stitched || Self.stitchedAvailable), "kernel not on this CPU")
        self.vector = vector
        self.stitched = stitched
        var inner = [UInt8](repeating: 0x36, count: 64), outer = [UInt8](repeating: 0x5C, count: 64)
        for i in 0..<16 {
            inner[i] ^= rawKey[i]
            outer[i] ^= rawKey[i]
        }
        innerPad = inner
        outerPad = outer
        encryptionKey = Array(rawKey[16..<32])
    }

    /// Length of the token for an n-byte plaintext.
    public static func tokenLength(plaintextLength n: Int) -> Int {
        Base64URL.encodedLength(1 + 8 + 16 + (n / 16 + 1) * 16 + 32)
    }

    // MARK: encrypt

    /// Encrypts `plaintext`. `timestamp` and `iv` are for test vectors; production uses now and random.
    public func encrypt<C: ContiguousBytes>(_ plaintext: C, timestamp: UInt64? = nil, iv: [UInt8]? = nil) -> [UInt8] {
        plaintext.withUnsafeBytes { plain in
            let length = Self.tokenLength(plaintextLength: plain.count)
            return [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
                encrypt(plain, timestamp: timestamp, iv: iv, into: UnsafeMutableRawBufferPointer(out))
                initialized = length
            }
        }
    }

    /// Encrypts `plaintext` into `token`, which must be exactly `tokenLength(plaintextLength:)` bytes: the
    /// way to put a token straight into a frame buffer.
    public func encrypt(_ plaintext: UnsafeRawBufferPointer, timestamp: UInt64? = nil, iv: [UInt8]? = nil,
                        into token: UnsafeMutableRawBufferPointer) {
        let n = plaintext.count
        precondition(token.count == Self.tokenLength(plaintextLength: n), "token buffer has the wrong length")
        let ts = timestamp ?? UInt64(max(0, Date().timeIntervalSince1970))
        var ivBytes = iv ?? []
        if ivBytes.isEmpty {
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<2 { withUnsafeBytes(of: rng.next() as UInt64) { ivBytes.append(contentsOf: $0) } }
        }
        precondition(ivBytes.count == 16, "Fernet IV is 16 bytes")
        let src = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let dst = token.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let chunk = Self.chunkBytes
        withUnsafeTemporaryAllocation(byteCount: chunk + 128, alignment: 64) { scratchBuffer in
            let scratch = scratchBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            // Raw token bytes not yet base64-encoded sit at the start of `scratch`: always fewer than 3
            // between chunks (the rest of a base64 group).
            scratch[0] = 0x80
            for i in 0..<8 { scratch[1 + i] = UInt8(truncatingIfNeeded: ts >> UInt64(56 - 8 * i)) }
            for i in 0..<16 { scratch[9 + i] = ivBytes[i] }
            var mac = HMACSHA256(innerPad: innerPad, shaNI: stitched)
            let cipher = AESCBC(encrypt: true, key: encryptionKey)
            cipher.start(iv: scratch + 9)
            mac.update(scratch, 25)
            var pending = 25
            var written = 0
            // Whole plaintext blocks, a chunk at a time (a multiple of 16, so CBC writes what it reads).
            let blocksEnd = n - n % 16
            let step = chunk / 16 * 16 - 32
            var p = 0
            while p < blocksEnd {
                let take = min(step, blocksEnd - p)
                cipher.update(src! + p, take, scratch + pending)
                mac.update(scratch + pending, take)
                pending += take
                p += take
                let groups = pending - pending % 3
                written += Base64URL.encodeBlocks(scratch, groups, dst + written, vector: vector)
                for i in 0..<(pending - groups) { scratch[i] = scratch[groups + i] }
                pending -= groups
            }
            // The last block: the plaintext's remaining 0..15 bytes and PKCS7 padding (1..16 bytes of its length).
            let rest = n - blocksEnd
            var last = [UInt8](repeating: UInt8(16 - rest), count: 16)
            for i in 0..<rest { last[i] = src![blocksEnd + i] }
            last.withUnsafeBufferPointer { _ = cipher.update($0.baseAddress!, 16, scratch + pending) }
            mac.update(scratch + pending, 16)
            pending += 16
            let code = mac.finish(outerPad: outerPad)
            for i in 0..<32 { scratch[pending + i] = code[i] }
            pending += 32
            written += Base64URL.encodeFinal(scratch, pending, dst + written, vector: vector)
            precondition(written == token.count)
        }
    }

    // MARK: decrypt

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
    ///
    /// A token is checked in this order: base64url, length, version byte, whole AES blocks, HMAC, TTL,
    /// padding; the first failure is the error.
    public func decrypt<C: ContiguousBytes>(_ token: C, ttl: UInt64? = nil, now: UInt64? = nil) throws(TokenError) -> [UInt8] {
        var failure: TokenError?
        let plain: [UInt8] = token.withUnsafeBytes { chars in
            switch checkedPlaintext(chars, ttl: ttl, now: now) {
            case .success(let p): return p
            case .failure(let e): failure = e; return []
            }
        }
        if let failure { throw failure }
        return plain
    }

    private func checkedPlaintext(_ chars: UnsafeRawBufferPointer, ttl: UInt64?, now: UInt64?) -> Result<[UInt8], TokenError> {
        let n = chars.count
        guard n % 4 == 0 else { return .failure(.invalidBase64) }
        let rawLength: Int
        if n == 0 {
            rawLength = 0
        } else {
            rawLength = n / 4 * 3 - Base64URL.paddingCount(chars.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
        }
        let ctLength = rawLength - 25 - 32
        guard ctLength > 0, ctLength % 16 == 0 else { return .failure(lengthFailure(chars)) }
        let src = chars.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var failure: TokenError?
        let plain = [UInt8](unsafeUninitializedCapacity: ctLength) { out, initialized in
            switch singlePass(src, n, rawLength: rawLength, into: out.baseAddress!, ttl: ttl, now: now) {
            case .success(let count): initialized = count
            case .failure(let e): failure = e; initialized = 0
            }
        }
        if let failure { return .failure(failure) }
        return .success(plain)
    }

    /// A token whose length cannot hold a ciphertext of whole blocks: the error the checks in order give.
    private func lengthFailure(_ chars: UnsafeRawBufferPointer) -> TokenError {
        guard let raw = Base64URL.decode(chars) else { return .invalidBase64 }
        guard raw.count >= 1 + 8 + 16 + 32 else { return .tooShort }
        guard raw[0] == 0x80 else { return .badVersion }
        return .badBlockSize
    }

    /// The single pass over a token whose length is right: returns the plaintext's length in `out`.
    private func singlePass(_ src: UnsafePointer<UInt8>, _ n: Int, rawLength: Int, into out: UnsafeMutablePointer<UInt8>,
                         ttl: UInt64?, now: UInt64?) -> Result<Int, TokenError> {
        let macStart = rawLength - 32
        let pad = rawLength == n / 4 * 3 ? 0 : n / 4 * 3 - rawLength
        let bodyChars = pad > 0 ? n - 4 : n
        let chunkChars = Self.chunkBytes / 3 * 4  // 85 groups of 256 for the stitched kernel
        return withUnsafeTemporaryAllocation(byteCount: Self.chunkBytes + 128, alignment: 64) { scratchBuffer -> Result<Int, TokenError> in
            let scratch = scratchBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var mac = HMACSHA256(innerPad: innerPad, shaNI: stitched)
            let cipher = AESCBC(encrypt: false, key: encryptionKey)
            var received = [UInt8](repeating: 0, count: 32)
            var version: UInt8 = 0
            var timestamp: UInt64 = 0
            var r = 0        // raw token bytes decoded so far
            var c = 0        // characters consumed
            var written = 0  // plaintext bytes written (before the padding is removed)
            var valid = true
            while c < bodyChars {
                let take = min(chunkChars, bodyChars - c)
                var produced = take / 4 * 3
                // A whole chunk before the MAC (hashing is then at a block boundary: chunks are 64-byte
                // multiples) is decoded and hashed by the stitched kernel; the rest one after the other.
                let stitchedChunk = stitched && take == chunkChars && r + produced <= macStart
                if stitchedChunk {
                    valid = mac.decodeAndHash(src + c, groups: take / 256, into: scratch)
                } else {
                    valid = Base64URL.decodeBlocks(src + c, take, scratch, vector: vector)
                    if valid && c + take == bodyChars && pad > 0 {
                        valid = Base64URL.decodeLastGroup(src + bodyChars, pad: pad, scratch + produced)
                        produced += 3 - pad
                    }
                }
                guard valid else { break }
                if r == 0 {
                    // The first chunk holds the whole header: rawLength >= 73 and a chunk is far longer.
                    version = scratch[0]
                    for i in 1...8 { timestamp = timestamp << 8 | UInt64(scratch[i]) }
                    cipher.start(iv: scratch + 9)
                }
                let end = r + produced
                // HMAC over [0, macStart), AES over [25, macStart), the received MAC is [macStart, rawLength).
                let signedEnd = min(end, macStart)
                if signedEnd > r && !stitchedChunk { mac.update(scratch, signedEnd - r) }
                let ctFrom = max(r, 25)
                if signedEnd > ctFrom {
                    written += cipher.update(scratch + (ctFrom - r), signedEnd - ctFrom, out + written)
                }
                if end > macStart {
                    let from = max(r, macStart)
                    for i in from..<end { received[i - macStart] = scratch[i - r] }
                }
                r = end
                c += take
            }
            guard valid else { return .failure(.invalidBase64) }
            guard version == 0x80 else { return .failure(.badVersion) }
            precondition(r == rawLength && written == rawLength - 57, "Fernet decrypt pass lost bytes")
            let computed = mac.finish(outerPad: outerPad)
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= computed[i] ^ received[i] }
            guard difference == 0 else { return .failure(.badMAC) }
            if let ttl {
                let current = now ?? UInt64(Date().timeIntervalSince1970)
                if timestamp > current + 60 { return .failure(.futureTimestamp) }
                if timestamp + ttl < current { return .failure(.expired) }
            }
            // PKCS7: the last byte says how many (1...16) bytes of that value end the plaintext.
            let padLength = Int(out[written - 1])
            guard padLength >= 1 && padLength <= 16 else { return .failure(.badPadding) }
            var wrong: UInt8 = 0
            for i in (written - padLength)..<written { wrong |= out[i] ^ UInt8(padLength) }
            guard wrong == 0 else { return .failure(.badPadding) }
            return .success(written - padLength)
        }
    }
}

// MARK: libcrypto

/// libcrypto's SHA-256 and AES-128-CBC, fetched once. Fetched algorithm objects are immutable and may be
/// shared between threads (OpenSSL's threading rules); contexts are per message.
private final class LibCryptoAlgorithms: @unchecked Sendable {
    static let shared = LibCryptoAlgorithms()
    let sha256: OpaquePointer
    let aes128CBC: OpaquePointer

    private init() {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil), let cipher = EVP_CIPHER_fetch(nil, "AES-128-CBC", nil) else {
            fatalError("libcrypto provides no SHA256 or AES-128-CBC")
        }
        sha256 = md
        aes128CBC = cipher
    }
}

/// HMAC-SHA256 (RFC 2104) from the precomputed key pads, over `CWireKernels`' SHA-NI compression or, on a
/// CPU without it, libcrypto's SHA-256.
private struct HMACSHA256: ~Copyable {
    /// libcrypto's digest context (no SHA-NI), else nil.
    private let context: OpaquePointer?
    /// SHA-NI: the chaining value H0..H7, the bytes short of a block, the bytes compressed so far.
    private var state: [UInt32]
    private var pending: [UInt8]
    private var compressed: Int

    /// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
    private static let initialState: [UInt32] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
                                                 0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19]

    init(innerPad: [UInt8], shaNI: Bool) {
        state = Self.initialState
        pending = []
        pending.reserveCapacity(64)
        compressed = 0
        if shaNI {
            context = nil
        } else {
            guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed") }
            context = ctx
            precondition(EVP_DigestInit_ex2(ctx, LibCryptoAlgorithms.shared.sha256, nil) == 1)
        }
        update(innerPad, 64)
    }

    mutating func update(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        if let context {
            precondition(EVP_DigestUpdate(context, bytes, count) == 1)
            return
        }
        var from = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, count)
            pending.append(contentsOf: UnsafeBufferPointer(start: bytes, count: take))
            from = take
            if pending.count < 64 { return }
            let block = pending
            compress(block, blocks: 1)
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = (count - from) / 64
        if blocks > 0 { compress(bytes + from, blocks: blocks) }
        from += blocks * 64
        if from < count { pending.append(contentsOf: UnsafeBufferPointer(start: bytes + from, count: count - from)) }
    }

    private mutating func compress(_ bytes: UnsafePointer<UInt8>, blocks: Int) {
        cwk_sha256_blocks(&state, bytes, blocks)
        compressed += 64 * blocks
    }

    /// Decodes `groups` groups of 256 characters into `dst` (192 bytes each) and hashes them, in the
    /// stitched kernel. The hash must be at a block boundary (SHA-NI, nothing pending). False on a
    /// character outside the alphabet.
    mutating func decodeAndHash(_ src: UnsafePointer<UInt8>, groups: Int, into dst: UnsafeMutablePointer<UInt8>) -> Bool {
        precondition(context == nil && pending.isEmpty, "stitched decoding off a block boundary")
        let invalid = cwk_b64_decode_sha256(src, groups, dst, &state)
        compressed += 192 * groups
        return invalid == 0
    }

    /// The 32-byte MAC.
    mutating func finish(outerPad: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        if let context {
            var length: UInt32 = 0
            precondition(EVP_DigestFinal_ex(context, &mac, &length) == 1 && length == 32)
            precondition(EVP_DigestInit_ex2(context, LibCryptoAlgorithms.shared.sha256, nil) == 1)
            update(outerPad, 64)
            update(mac, 32)
            precondition(EVP_DigestFinal_ex(context, &mac, &length) == 1 && length == 32)
            return mac
        }
        let inner = finalDigest()
        state = Self.initialState
        pending.removeAll(keepingCapacity: true)
        compressed = 0
        update(outerPad, 64)
        update(inner, 32)
        return finalDigest()
    }

    /// FIPS 180-4 §5.1.1 padding (0x80, zeros, the length in bits as 64-bit big-endian), then the state
    /// big-endian.
    private mutating func finalDigest() -> [UInt8] {
        let bits = UInt64(compressed + pending.count) * 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for k in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(8 * k))) }
        compress(tail, blocks: tail.count / 64)
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        for word in state {
            for k in 0..<4 { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * k))) }
        }
        return digest
    }

    deinit { if let context { EVP_MD_CTX_free(context) } }
}

/// AES-128-CBC without padding (Fernet's PKCS7 is added and checked above): whole blocks in, whole blocks
/// out; an update that ends inside a block keeps those bytes for the next one.
private struct AESCBC: ~Copyable {
    private let context: OpaquePointer

    /// A context with the key; `start(iv:)` before the first update.
    init(encrypt: Bool, key: [UInt8]) {
        guard let ctx = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        context = ctx
        let ok = key.withUnsafeBufferPointer {
            EVP_CipherInit_ex2(ctx, LibCryptoAlgorithms.shared.aes128CBC, $0.baseAddress, nil, encrypt ? 1 : 0, nil)
        }
        precondition(ok == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1)
    }

    /// Sets the 16-byte IV (the key and direction stay).
    func start(iv: UnsafePointer<UInt8>) {
        precondition(EVP_CipherInit_ex2(context, nil, nil, iv, -1, nil) == 1)
    }

    /// Processes `count` bytes; returns the bytes written to `out` (whole blocks, at most `count + 15`).
    @discardableResult
    func update(_ input: UnsafePointer<UInt8>, _ count: Int, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        var written: Int32 = 0
        precondition(EVP_CipherUpdate(context, out, &written, input, Int32(count)) == 1)
        return Int(written)
    }

    deinit { EVP_CIPHER_CTX_free(context) }
}
