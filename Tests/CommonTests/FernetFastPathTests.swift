import Crypto
import CryptoExtras
import Foundation
import Testing
@testable import Common

// The single-pass Fernet and the vector base64url against independent references: a slow base64url written
// here bit by bit from RFC 4648, a whole-buffer Fernet written here from the spec over swift-crypto's
// (BoringSSL's) AES-CBC and HMAC, and Python's `cryptography.fernet`. No test here measures time.

/// Base64url with padding through a bit accumulator, one character at a time: the reference for `Base64URL`.
enum SlowBase64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let values: [Int] = (0..<256).map { c in alphabet.firstIndex(of: UInt8(c)) ?? -1 }

    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var acc = 0, bits = 0
        for b in bytes {
            acc = acc << 8 | Int(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[acc >> bits & 63])
            }
            acc &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[acc << (6 - bits) & 63]) }
        while out.count % 4 != 0 { out.append(UInt8(ascii: "=")) }
        return out
    }

    /// nil unless: a multiple of 4 characters, at most two `=` and only at the end, every other character
    /// in the alphabet. Bits left over after the last whole byte are dropped, whatever they are.
    static func decode(_ chars: [UInt8]) -> [UInt8]? {
        guard chars.count % 4 == 0 else { return nil }
        var body = chars[...]
        var pad = 0
        while pad < 2, body.last == UInt8(ascii: "=") { body = body.dropLast(); pad += 1 }
        var out: [UInt8] = []
        var acc = 0, bits = 0
        for c in body {
            let v = values[Int(c)]
            guard v >= 0 else { return nil }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(acc >> bits & 0xFF))
            }
            acc &= (1 << bits) - 1
        }
        return out
    }
}

/// Fernet as the spec reads, over whole buffers: the reference for `Fernet`.
enum ReferenceFernet {
    static func encrypt(_ plain: [UInt8], key: [UInt8], timestamp: UInt64, iv: [UInt8]) -> [UInt8] {
        let ct = try! AES._CBC.encrypt(plain, using: SymmetricKey(data: key[16..<32]), iv: AES._CBC.IV(ivBytes: iv))
        return sign(ciphertext: Array(ct), key: key, timestamp: timestamp, iv: iv)
    }

    /// The token of an already encrypted body (so tests can sign ciphertexts with wrong padding).
    static func sign(ciphertext: [UInt8], key: [UInt8], timestamp: UInt64, iv: [UInt8]) -> [UInt8] {
        var body: [UInt8] = [0x80]
        for k in (0..<8).reversed() { body.append(UInt8(truncatingIfNeeded: timestamp >> UInt64(8 * k))) }
        body += iv + ciphertext
        body += Array(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key[0..<16])))
        return SlowBase64URL.encode(body)
    }

    static func decrypt(_ token: [UInt8], key: [UInt8], ttl: UInt64? = nil, now: UInt64? = nil) -> Result<[UInt8], Fernet.TokenError> {
        guard let raw = SlowBase64URL.decode(token) else { return .failure(.invalidBase64) }
        guard raw.count >= 57 else { return .failure(.tooShort) }
        guard raw[0] == 0x80 else { return .failure(.badVersion) }
        let ct = Array(raw[25..<(raw.count - 32)])
        guard !ct.isEmpty, ct.count % 16 == 0 else { return .failure(.badBlockSize) }
        let mac = HMAC<SHA256>.authenticationCode(for: raw[..<(raw.count - 32)], using: SymmetricKey(data: key[0..<16]))
        guard Array(mac) == Array(raw[(raw.count - 32)...]) else { return .failure(.badMAC) }
        if let ttl, let now {
            let ts = raw[1...8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if ts > now + 60 { return .failure(.futureTimestamp) }
            if ts + ttl < now { return .failure(.expired) }
        }
        let plain = Array(try! AES._CBC.decrypt(ct, using: SymmetricKey(data: key[16..<32]), iv: AES._CBC.IV(ivBytes: raw[9..<25]), noPadding: true))
        let p = Int(plain.last!)
        guard (1...16).contains(p), plain.suffix(p).allSatisfy({ $0 == UInt8(p) }) else { return .failure(.badPadding) }
        return .success(Array(plain.dropLast(p)))
    }
}

private func result(_ f: Fernet, _ token: [UInt8], ttl: UInt64? = nil, now: UInt64? = nil) -> Result<[UInt8], Fernet.TokenError> {
    do throws(Fernet.TokenError) { return .success(try f.decrypt(token, ttl: ttl, now: now)) } catch { return .failure(error) }
}

/// Bytes as their length and SHA-256, so a failed expectation on megabytes prints a line, not the bytes.
private func digest(_ bytes: [UInt8]) -> String {
    "\(bytes.count) bytes, SHA-256 " + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

private func digest(_ r: Result<[UInt8], Fernet.TokenError>) -> String {
    switch r {
    case .success(let bytes): return "success: " + digest(bytes)
    case .failure(let e): return "failure: \(e)"
    }
}

/// Sizes 0..70,000 that matter to the single pass and the vector loops, plus random ones.
private func interestingSizes(randomCount: Int, seed: UInt64) -> [Int] {
    var sizes = Array(0...300)
    // Around the chunk (16,320 token bytes hold 16,263 plaintext bytes after the 25-byte header) and
    // its multiples, and around the vector block sizes.
    for base in [16_320 - 25, 16_320 - 57, 2 * 16_320 - 25, 3 * 16_320 - 57, 65_536, 69_999] {
        for d in -18...18 where base + d >= 0 && base + d <= 70_000 { sizes.append(base + d) }
    }
    var g = SplitMix64(seed: seed)
    for _ in 0..<randomCount { sizes.append(Int(g.next() % 70_001)) }
    return sizes
}

@Suite struct Base64URLFastPathTests {
    /// Both the AVX2 kernels (when this CPU has them) and the scalar loops.
    static let paths: [Bool] = Base64URL.vectorAvailable ? [true, false] : [false]

    static func encode(_ bytes: [UInt8], vector: Bool) -> [UInt8] {
        bytes.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: Base64URL.encodedLength(bytes.count) + 1) { dst, n in
                n = Base64URL.encodeFinal(src.baseAddress ?? UnsafePointer(dst.baseAddress!), bytes.count, dst.baseAddress!, vector: vector)
            }
        }
    }

    /// `Base64URL.decode`'s logic with the path chosen.
    static func decode(_ chars: [UInt8], vector: Bool) -> [UInt8]? {
        let n = chars.count
        guard n % 4 == 0 else { return nil }
        if n == 0 { return [] }
        return chars.withUnsafeBufferPointer { srcBuffer -> [UInt8]? in
            let src = srcBuffer.baseAddress!
            let pad = Base64URL.paddingCount(src, n)
            let body = pad > 0 ? n - 4 : n
            var ok = true
            let out = [UInt8](unsafeUninitializedCapacity: n / 4 * 3) { dst, count in
                ok = Base64URL.decodeBlocks(src, body, dst.baseAddress!, vector: vector)
                if ok && pad > 0 { ok = Base64URL.decodeLastGroup(src + body, pad: pad, dst.baseAddress! + body / 4 * 3) }
                count = ok ? n / 4 * 3 - pad : 0
            }
            return ok ? out : nil
        }
    }

    @Test func encodeAndDecodeMatchTheSlowCodecOnManySizes() {
        var sizes = interestingSizes(randomCount: 300, seed: 41)
        sizes.append(5 * 1024 * 1024)
        for (k, n) in sizes.enumerated() {
            let bytes = randomBytes(n, seed: UInt64(k) &+ 1000)
            let expected = n <= 70_000 ? SlowBase64URL.encode(bytes) : nil
            let ours = Base64URL.encode(bytes)
            if let expected { #expect(digest(ours) == digest(expected), "encode, size \(n)") }
            #expect(Base64URL.decode(ours).map(digest) == digest(bytes), "decode, size \(n)")
            for vector in Self.paths {
                #expect(digest(Self.encode(bytes, vector: vector)) == digest(ours), "encode vector=\(vector), size \(n)")
                #expect(Self.decode(ours, vector: vector).map(digest) == digest(bytes), "decode vector=\(vector), size \(n)")
            }
        }
    }

    /// Random valid text, including characters whose leftover bits before the padding are not zero.
    @Test func decodeMatchesTheSlowCodecOnRandomText() {
        var g = SplitMix64(seed: 77)
        for _ in 0..<400 {
            let groups = Int(g.next() % 300)
            var chars = (0..<(groups * 4)).map { _ in SlowBase64URL.alphabet[Int(g.next() % 64)] }
            let pad = Int(g.next() % 3)
            if groups > 0 && pad > 0 { for i in 1...pad { chars[chars.count - i] = UInt8(ascii: "=") } }
            let expected = SlowBase64URL.decode(chars)
            #expect(expected != nil)
            #expect(Base64URL.decode(chars) == expected)
            for vector in Self.paths { #expect(Self.decode(chars, vector: vector) == expected) }
        }
    }

    /// Every byte outside the alphabet, at the start, inside the vector blocks, in the scalar tail and in
    /// the last group (padded or not), is refused on both paths.
    @Test func everyInvalidByteAnywhereIsRefused() {
        let valid = Set(SlowBase64URL.alphabet)
        let base = SlowBase64URL.encode(randomBytes(300, seed: 5))  // 400 characters, no padding
        let padded = SlowBase64URL.encode(randomBytes(299, seed: 6))  // 400 characters, the last one `=`
        for template in [base, padded, Array(base[..<4]), Array(base[..<36])] {
            let positions = Set([0, 1, 2, 3, 31, 32, 33, 63, template.count / 2, template.count - 5,
                                 template.count - 4, template.count - 3].filter { $0 >= 0 && $0 < template.count })
            for position in positions {
                for byte in 0...255 where !valid.contains(UInt8(byte)) {
                    var chars = template
                    if chars[position] == UInt8(ascii: "=") { continue }
                    // A `=` in the last two places can be padding; everywhere else it is refused here.
                    if byte == Int(UInt8(ascii: "=")) && position >= template.count - 2 { continue }
                    chars[position] = UInt8(byte)
                    #expect(SlowBase64URL.decode(chars) == nil)
                    #expect(Base64URL.decode(chars) == nil, "byte \(byte) at \(position) of \(template.count)")
                    for vector in Self.paths {
                        #expect(Self.decode(chars, vector: vector) == nil, "byte \(byte) at \(position), vector=\(vector)")
                    }
                }
            }
        }
    }

    @Test(arguments: [
        "A===", "====", "AA=A", "A=AA", "=AAA", "A=A=", "AAA", "AAAAA", "AAAAAA", "AAAAAAA",
        "AA==AAAA", "AAA=AAAA", "AAAA====", "AAAAA===", "=", "==", "AAAA=", "AAAA==",
    ])
    func badPaddingAndLengthAreRefused(text: String) {
        let chars = Array(text.utf8)
        #expect(SlowBase64URL.decode(chars) == nil)
        #expect(Base64URL.decode(chars) == nil)
        for vector in Self.paths { #expect(Self.decode(chars, vector: vector) == nil) }
    }

    /// The same, at the end of long text (the padding check after the vector blocks).
    @Test func badPaddingAfterLongTextIsRefused() {
        let long = Array(SlowBase64URL.encode(randomBytes(3000, seed: 8)))
        for tail in ["A===", "====", "AA=A", "A=AA", "=AAA", "A=A="] {
            let chars = long + Array(tail.utf8)
            #expect(Base64URL.decode(chars) == nil, "tail \(tail)")
            for vector in Self.paths { #expect(Self.decode(chars, vector: vector) == nil) }
        }
        for cut in 1...3 { #expect(Base64URL.decode(Array(long.dropLast(cut))) == nil) }
    }
}

@Suite struct FernetFastPathTests {
    static let key = Array(fixtureKey.utf8)
    static let iv: [UInt8] = Array(200..<216)

    /// Every path this CPU can run: SHA-NI stitched to AVX2 base64url, AVX2 base64url with libcrypto's
    /// SHA-256, and the scalar base64url loops with libcrypto's SHA-256 (what a CPU without AVX2 runs).
    static let paths: [(vector: Bool, stitched: Bool)] =
        (Fernet.stitchedAvailable ? [(true, true)] : []) + (Fernet.vectorAvailable ? [(true, false)] : []) + [(false, false)]

    static func fernets(_ key: [UInt8] = key) -> [(name: String, fernet: Fernet)] {
        paths.map { ("vector=\($0.vector) stitched=\($0.stitched)", Fernet(rawKey: key, vector: $0.vector, stitched: $0.stitched)) }
    }

    @Test func tokensMatchTheReferenceOnManySizes() throws {
        for (path, f) in Self.fernets() { try tokensMatchTheReference(f, path) }
    }

    func tokensMatchTheReference(_ f: Fernet, _ path: String) throws {
        var sizes = interestingSizes(randomCount: 200, seed: 97)
        sizes.append(5 * 1024 * 1024)
        for (k, n) in sizes.enumerated() {
            let plain = randomBytes(n, seed: UInt64(k) &+ 5000)
            let ts = 1_700_000_000 + UInt64(k)
            let reference = ReferenceFernet.encrypt(plain, key: Self.key, timestamp: ts, iv: Self.iv)
            let ours = f.encrypt(plain, timestamp: ts, iv: Self.iv)
            #expect(digest(ours) == digest(reference), "size \(n), \(path)")
            #expect(ours.count == Fernet.tokenLength(plaintextLength: n))
            #expect(digest(result(f, reference)) == digest(.success(plain)), "size \(n), \(path)")
            let fresh = f.encrypt(plain)
            #expect(digest(ReferenceFernet.decrypt(fresh, key: Self.key)) == digest(.success(plain)), "size \(n), \(path)")
        }
    }

    /// Python's `cryptography.fernet` decrypts ours and makes tokens we decrypt, on the same sizes (one
    /// Python process for all of them, through files).
    @Test func pythonBothWaysOnManySizes() throws {
        let f = try Fernet(clusterKey: fixtureKey)
        var sizes = [0, 1, 15, 16, 17, 31, 32, 33, 16_263, 16_264, 16_295, 32_615, 32_616, 65_536, 70_000]
        var g = SplitMix64(seed: 123)
        for _ in 0..<40 { sizes.append(Int(g.next() % 70_001)) }
        sizes.append(5 * 1024 * 1024)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fernet-fast-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var input = Data()
        var plains: [[UInt8]] = []
        func appendRecord(_ bytes: [UInt8], to data: inout Data) {
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: bytes)
        }
        for (k, n) in sizes.enumerated() {
            let plain = randomBytes(n, seed: UInt64(k) &+ 9000)
            plains.append(plain)
            appendRecord(plain, to: &input)
            appendRecord(f.encrypt(plain), to: &input)
        }
        let inPath = dir.appendingPathComponent("in").path, outPath = dir.appendingPathComponent("out").path
        try input.write(to: URL(fileURLWithPath: inPath))
        let script = """
        import sys, base64, struct
        from cryptography.fernet import Fernet
        f = Fernet(base64.urlsafe_b64encode(sys.argv[1].encode()))
        data = open(sys.argv[2], "rb").read()
        out = open(sys.argv[3], "wb")
        i = 0
        def take():
            global i
            (n,) = struct.unpack(">I", data[i:i + 4])
            i += 4
            v = data[i:i + n]
            i += n
            return v
        while i < len(data):
            plain = take()
            token = take()
            ok = f.decrypt(token) == plain
            mine = f.encrypt(plain)
            out.write(bytes([1 if ok else 0]) + struct.pack(">I", len(mine)) + mine)
        """
        let python = try run("/usr/bin/env", ["python3", "-c", script, fixtureKey, inPath, outPath])
        #expect(python.status == 0, "python stderr: \(python.stderr)")
        let output = Array(try Data(contentsOf: URL(fileURLWithPath: outPath)))
        var i = 0
        for (k, plain) in plains.enumerated() {
            #expect(output[i] == 1, "Python did not decrypt our token of \(sizes[k]) bytes")
            let n = output[(i + 1)..<(i + 5)].reduce(0) { $0 << 8 | Int($1) }
            let token = Array(output[(i + 5)..<(i + 5 + n)])
            i += 5 + n
            #expect(digest(result(f, token)) == digest(.success(plain)), "Python's token of \(sizes[k]) bytes")
        }
        #expect(i == output.count)
    }

    /// Damaged tokens get the reference's answer (which check fails first), wherever the damage is:
    /// bad characters, bad padding characters, truncation, flipped bits in header, ciphertext and MAC.
    @Test func damagedTokensFailAsTheReferenceDoes() {
        for (path, f) in Self.fernets() { damagedTokensFail(f, path) }
    }

    func damagedTokensFail(_ f: Fernet, _ path: String) {
        for n in [0, 5, 16, 1000, 16_263, 16_264, 40_000, 70_000] {
            let token = f.encrypt(randomBytes(n, seed: UInt64(n) &+ 1), timestamp: 1_700_000_000, iv: Self.iv)
            var cases: [[UInt8]] = []
            let positions = Set([0, 1, 2, 12, 33, 34, 35, 36, 255, 256, 257, token.count / 2, 21_759, 21_760, 21_761, 43_519, 43_520,
                                 token.count - 45, token.count - 4, token.count - 3, token.count - 2, token.count - 1]
                .filter { $0 >= 0 && $0 < token.count })
            for p in positions {
                for bad in ["%", "=", "+", "/", "\u{0}", "\u{FF}", " ", "\n"] {
                    var t = token
                    t[p] = Array(bad.utf8).last!
                    cases.append(t)
                }
                var flipped = token
                flipped[p] = SlowBase64URL.alphabet[(SlowBase64URL.alphabet.firstIndex(of: token[p]) ?? 0) ^ 1]
                cases.append(flipped)
            }
            for cut in [1, 2, 3, 4, 5, 8, 16, 20, 44, 64, 76, 77, 96, token.count - 4, token.count - 1] where cut <= token.count {
                cases.append(Array(token.dropLast(cut)))
            }
            cases.append(token + Array("AAAA".utf8))
            cases.append(token + Array("AAAAAAAAAAAAAAAAAAAAAAAA".utf8))
            cases.append(Array(token.dropLast(4)) + Array("AA==".utf8))
            for damaged in cases {
                let expected = ReferenceFernet.decrypt(damaged, key: Self.key)
                #expect(digest(result(f, damaged)) == digest(expected), "size \(n), token length \(damaged.count), \(path)")
                // Only the unused bits of the character before the padding may change and still decrypt.
                if case .success = expected, SlowBase64URL.decode(damaged) != SlowBase64URL.decode(token) {
                    Issue.record("a damaged token of \(n) bytes still decrypts (\(path))")
                }
            }
        }
        #expect(result(f, []) == .failure(.tooShort))
        #expect(result(f, Array("AAAA".utf8)) == .failure(.tooShort))
    }

    /// Ciphertexts whose last block's PKCS7 padding is wrong, behind a valid MAC: refused as bad padding,
    /// and the valid ones (up to a whole block of padding) accepted. Also the version byte and TTL.
    @Test func paddingVersionAndTTLBehindAValidMAC() throws {
        for (path, f) in Self.fernets() { try paddingVersionAndTTL(f, path) }
    }

    func paddingVersionAndTTL(_ f: Fernet, _ path: String) throws {
        let encryptionKey = SymmetricKey(data: Self.key[16..<32])
        let ivValue = try AES._CBC.IV(ivBytes: Self.iv)
        for prefixBlocks in [0, 1, 1100] {
            let prefix = randomBytes(16 * prefixBlocks, seed: UInt64(prefixBlocks))
            let lastBlocks: [[UInt8]] = [
                [UInt8](repeating: 7, count: 15) + [0],
                [UInt8](repeating: 7, count: 15) + [17],
                [UInt8](repeating: 7, count: 15) + [255],
                [UInt8](repeating: 7, count: 13) + [2, 3, 3],
                [UInt8](repeating: 7, count: 12) + [4, 4, 5, 4],
                [UInt8](repeating: 16, count: 15) + [1],            // valid: one byte of padding
                [UInt8](repeating: 16, count: 16),                  // valid: a whole block of padding
                [15] + [UInt8](repeating: 16, count: 15),           // 16 claimed, one byte wrong
                [UInt8](repeating: 3, count: 16),                   // valid: 3 bytes of padding
            ]
            for last in lastBlocks {
                let ct = Array(try AES._CBC.encrypt(prefix + last, using: encryptionKey, iv: ivValue, noPadding: true))
                let token = ReferenceFernet.sign(ciphertext: ct, key: Self.key, timestamp: 1_700_000_000, iv: Self.iv)
                let expected = ReferenceFernet.decrypt(token, key: Self.key)
                #expect(digest(result(f, token)) == digest(expected), "last block \(last), \(path)")
            }
        }
        let plain = randomBytes(100_000, seed: 3)
        let token = f.encrypt(plain, timestamp: 1_700_000_000, iv: Self.iv)
        #expect(result(f, token, ttl: 60, now: 1_700_000_030) == .success(plain))
        #expect(result(f, token, ttl: 60, now: 1_700_000_061) == .failure(.expired))
        #expect(result(f, token, ttl: 60, now: 1_699_999_939) == .failure(.futureTimestamp))
        #expect(result(f, token, ttl: 60, now: 1_699_999_940) == .success(plain))
        // Version byte 0x81, signed: the version is checked before the MAC.
        var raw = try #require(SlowBase64URL.decode(token))
        raw[0] = 0x81
        #expect(result(f, SlowBase64URL.encode(raw)) == .failure(.badVersion))
        // A wrong key on a long token.
        #expect(result(Fernet(rawKey: Array("AnotherKeyAnotherKeyAnotherKey12".utf8)), token) == .failure(.badMAC))
    }

    /// `MessageEncoder` writes the token straight after its header: into an empty buffer and after other
    /// frames; the frames read back to the plaintext.
    @Test func encoderPutsTheTokenStraightIntoTheFrame() throws {
        let f = try Fernet(clusterKey: fixtureKey)
        let encoder = MessageEncoder(fernet: f)
        var out: [UInt8] = []
        let payloads = [randomBytes(0, seed: 1), randomBytes(70_000, seed: 2), randomBytes(33, seed: 3)]
        for (k, p) in payloads.enumerated() {
            try encoder.encode(counter: UInt32(k + 1), command: "file_upd", payload: p, into: &out)
        }
        var decoder = MessageDecoder(fernet: f)
        var got: [[UInt8]] = []
        try out.withUnsafeBytes { raw in
            var offset = 0
            while let (frame, consumed) = try FrameParser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                #expect(Int(frame.header.length) == Fernet.tokenLength(plaintextLength: payloads[got.count].count))
                offset += consumed
                if let m = try decoder.accept(frame) { got.append(m.payload) }
            }
            #expect(offset == raw.count)
        }
        #expect(got == payloads)
    }
}
