import CBlake2

/// BLAKE2b-512 through libb2: unkeyed, no salt or personalisation, 64-byte digest, which is what 4.8.1's
/// `hashlib.blake2b()` gives and what `b2sum` prints (PROTOCOL.md §5.2).
///
/// A class so one state can be reused across many files by one thread; not safe to share between threads.
public final class Blake2b {
    public static let digestLength = 64
    private let state: UnsafeMutablePointer<blake2b_state>

    public init() {
        state = .allocate(capacity: 1)
        reset()
    }

    deinit { state.deallocate() }

    /// Starts a new digest.
    public func reset() {
        // blake2b_init only fails for an out-of-range length, and 64 is in range.
        _ = blake2b_init(state, Self.digestLength)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = blake2b_update(state, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 64-byte digest; the state must be `reset()` before reuse.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.digestLength)
        out.withUnsafeMutableBufferPointer { _ = blake2b_final(state, $0.baseAddress, Self.digestLength) }
        return out
    }

    /// The digest as 128 lowercase hex characters (the metadata `hash` value).
    public func finalizeHex() -> String { Self.hex(finalize()) }

    /// One-shot digest of a byte array, as lowercase hex.
    public static func hexDigest(of bytes: [UInt8]) -> String {
        let h = Blake2b()
        h.update(bytes)
        return h.finalizeHex()
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func hex(_ digest: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: digest.count * 2) { out in
            var i = 0
            for byte in digest {
                out[i] = hexDigits[Int(byte >> 4)]
                out[i + 1] = hexDigits[Int(byte & 0x0F)]
                i += 2
            }
            return i
        }
    }
}
