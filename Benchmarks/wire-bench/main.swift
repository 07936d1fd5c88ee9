import Common
import Foundation

// Wire codec throughput on one core, 40 messages of 5 MiB (≈ 210 MB), every figure measured in this run:
//   reference copy       the same bytes copied (memcpy through Array append): what the memory system gives
//   Fernet encrypt       Fernet.encrypt alone, each token dropped after it is made (as a sender does)
//   Fernet decrypt       Fernet.decrypt alone, of the 40 tokens in their frames
//   encrypt+frame        MessageEncoder.encode into 40 frames that are all kept: fresh memory each, so
//                        this includes page-faulting 40 × 7 MB in (about 1,700 faults a frame)
//   ... reused buffer    the same into one frame buffer emptied after each message (as a sender's is)
//   decode+decrypt       FrameParser + MessageDecoder over those frames
//   Python               cryptography.fernet's encrypt and decrypt of the same 5 MiB, in a child process
// Times are the thread's CPU time (so other work on a shared machine does not count), best of `rounds`
// rounds; the wall-clock figure of the same best round follows in brackets. Targets (issue #15, wire
// codec): encrypt >= 500 MB/s and decrypt >= 900 MB/s per core; each figure is printed as a ratio to its
// target. `--components` adds base64url encode/decode alone.

struct Clock {
    var cpu: Double
    var wall: Double
    static func now() -> Clock {
        var c = timespec(), w = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c)
        clock_gettime(CLOCK_MONOTONIC, &w)
        return Clock(cpu: Double(c.tv_sec) + Double(c.tv_nsec) / 1e9, wall: Double(w.tv_sec) + Double(w.tv_nsec) / 1e9)
    }
}

/// Runs `body` `rounds` times; returns the CPU and wall seconds of the round with the least CPU time.
func best(_ rounds: Int, _ body: () throws -> Void) rethrows -> (cpu: Double, wall: Double) {
    var result = (cpu: Double.infinity, wall: Double.infinity)
    for _ in 0..<rounds {
        let t0 = Clock.now()
        try body()
        let t1 = Clock.now()
        if t1.cpu - t0.cpu < result.cpu { result = (t1.cpu - t0.cpu, t1.wall - t0.wall) }
    }
    return result
}

MemoryTuning.apply()  // as clusterd and frame-dump do at start
let messageSize = 5 * 1024 * 1024
let count = 40
let rounds = 3
let totalBytes = Double(messageSize * count)
let encryptTarget = 500.0, decryptTarget = 900.0
var payload = [UInt8](repeating: 0, count: messageSize)
for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
let clusterKey = "BenchmarkKeyBenchmarkKey01234567"
let fernet = try Fernet(clusterKey: clusterKey)
let encoder = MessageEncoder(fernet: fernet)
var sink = 0

let copy = best(rounds) {
    for _ in 0..<count {
        var copy = [UInt8]()
        copy.reserveCapacity(messageSize)
        copy.append(contentsOf: payload)
        sink &+= Int(copy[messageSize / 2])
    }
}

let encryptAlone = best(rounds) {
    for _ in 0..<count { sink &+= fernet.encrypt(payload).count }
}

var reused: [UInt8] = []
let encodeFrameReused = try best(rounds) {
    for i in 0..<count {
        reused.removeAll(keepingCapacity: true)
        try encoder.encode(counter: UInt32(i), command: "file_upd", payload: payload, into: &reused)
        sink &+= reused.count
    }
}
reused = []

var frames: [[UInt8]] = []
let encodeFrame = try best(rounds) {
    frames = []
    for i in 0..<count { frames.append(try encoder.encode(counter: UInt32(i), command: "file_upd", payload: payload)) }
}

let decryptAlone = try best(rounds) {
    for frame in frames {
        let plain = try fernet.decrypt(frame[WireLimits.headerSize...])
        precondition(plain.count == messageSize)
        sink &+= Int(plain[messageSize / 2])
    }
}
let roundTrip = try fernet.decrypt(frames[0][WireLimits.headerSize...])
precondition(roundTrip == payload, "a token did not decrypt to its payload")

let decodeDecrypt = try best(rounds) {
    var decoded = 0
    for bytes in frames {
        var decoder = MessageDecoder(fernet: fernet)
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while let (frame, consumed) = try FrameParser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                offset += consumed
                if let m = try decoder.accept(frame) { decoded += m.payload.count }
            }
        }
    }
    precondition(decoded == messageSize * count, "decode lost bytes")
}
frames = []

/// Python's cryptography.fernet on the same 5 MiB, same key: (encrypt, decrypt) MB/s by CPU time, best of
/// `rounds` rounds of `pythonCount` messages; nil when python3 or the package is missing.
func pythonFigures(payload: [UInt8], clusterKey: String, pythonCount: Int, rounds: Int) -> (encrypt: Double, decrypt: Double, encryptWall: Double, decryptWall: Double)? {
    let script = """
    import sys, time, base64
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        sys.exit(3)
    f = Fernet(base64.urlsafe_b64encode(sys.argv[1].encode()))
    data = open(sys.argv[2], "rb").read()
    n, rounds = int(sys.argv[3]), int(sys.argv[4])
    def best(fn):
        result = None
        for _ in range(rounds):
            c, w = time.thread_time(), time.perf_counter()
            fn()
            c, w = time.thread_time() - c, time.perf_counter() - w
            if result is None or c < result[0]:
                result = (c, w)
        return result
    tokens = []
    def enc():
        tokens.clear()
        for _ in range(n):
            tokens.append(f.encrypt(data))
    def dec():
        for t in tokens:
            assert len(f.decrypt(t)) == len(data)
    e, d = best(enc), best(dec)
    mb = len(data) * n / 1e6
    print(mb / e[0], mb / d[0], mb / e[1], mb / d[1])
    """
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("wire-bench-\(getpid()).bin")
    defer { try? FileManager.default.removeItem(at: path) }
    do {
        try Data(payload).write(to: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, clusterKey, path.path, String(pythonCount), String(rounds)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let v = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard v.count == 4 else { return nil }
        return (v[0], v[1], v[2], v[3])
    } catch {
        return nil
    }
}
let python = pythonFigures(payload: payload, clusterKey: clusterKey, pythonCount: 10, rounds: rounds)

func mbps(_ seconds: Double) -> Double { totalBytes / 1e6 / seconds }
/// The name column (Foundation on Linux does not pad `%@`).
func label(_ name: String) -> String { name.padding(toLength: 28, withPad: " ", startingAt: 0) }
func line(_ name: String, _ t: (cpu: Double, wall: Double), target: Double?) -> String {
    var s = label(name) + String(format: " %8.1f MB/s  [wall %7.1f]  copy/this %5.1fx", mbps(t.cpu), mbps(t.wall), t.cpu / copy.cpu)
    if let target { s += String(format: "   target %4.0f: %.2fx", target, mbps(t.cpu) / target) }
    return s
}
print(String(format: "wire codec: %d messages of 5 MiB = %.0f MB, one core; thread CPU time, best of %d", count, totalBytes / 1e6, rounds))
print(line("reference copy", copy, target: nil))
print(line("Fernet encrypt", encryptAlone, target: encryptTarget))
print(line("Fernet decrypt", decryptAlone, target: decryptTarget))
print(line("encrypt+frame", encodeFrame, target: encryptTarget))
print(line("encrypt+frame, reused buffer", encodeFrameReused, target: encryptTarget))
print(line("decode+decrypt", decodeDecrypt, target: decryptTarget))
if let python {
    print(label("python cryptography encrypt") + String(format: " %8.1f MB/s  [wall %7.1f]  ours/python %5.2fx   target %4.0f: %.2fx",
                 python.encrypt, python.encryptWall, mbps(encryptAlone.cpu) / python.encrypt, encryptTarget, python.encrypt / encryptTarget))
    print(label("python cryptography decrypt") + String(format: " %8.1f MB/s  [wall %7.1f]  ours/python %5.2fx   target %4.0f: %.2fx",
                 python.decrypt, python.decryptWall, mbps(decryptAlone.cpu) / python.decrypt, decryptTarget, python.decrypt / decryptTarget))
} else {
    print(label("python cryptography") + " not available (python3 with the cryptography package)")
}
let met = mbps(encryptAlone.cpu) >= encryptTarget && mbps(decryptAlone.cpu) >= decryptTarget
print("target: Fernet encrypt >= \(Int(encryptTarget)) MB/s and decrypt >= \(Int(decryptTarget)) MB/s: \(met ? "met" : "NOT met")")

if CommandLine.arguments.contains("--components") {
    let token = fernet.encrypt(payload)
    let decode = best(rounds) { for _ in 0..<count { sink &+= Base64URL.decode(token)!.count } }
    let encode = best(rounds) { for _ in 0..<count { sink &+= Base64URL.encode(payload).count } }
    print(line("base64url encode (alone)", encode, target: nil))
    print(line("base64url decode (alone)", decode, target: nil))
    // Per-message cost on small messages (keep-alives, replies): libcrypto contexts, key schedule, HMAC pads.
    let small = [UInt8](repeating: 0x41, count: 100)
    let smallToken = fernet.encrypt(small)
    let smallCount = 100_000
    let smallEncrypt = best(rounds) { for _ in 0..<smallCount { sink &+= fernet.encrypt(small).count } }
    let smallDecrypt = try best(rounds) { for _ in 0..<smallCount { sink &+= try fernet.decrypt(smallToken).count } }
    print(label("100-byte messages") + String(format: " %8.2f µs encrypt, %.2f µs decrypt per message",
                 smallEncrypt.cpu / Double(smallCount) * 1e6, smallDecrypt.cpu / Double(smallCount) * 1e6))
}
if sink == 42 { print("") }
