import Common
import Foundation

// Wire codec throughput: encrypt+frame and decode+decrypt of 200 MB in 5 MiB messages, next to a plain
// copy of the same bytes measured in the same run. One core (this loop is single-threaded).

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

MemoryTuning.apply()  // as clusterd and frame-dump do at start
let messageSize = 5 * 1024 * 1024
let count = 40  // 40 × 5 MiB ≈ 210 MB
let totalMB = Double(messageSize * count) / 1e6
var payload = [UInt8](repeating: 0, count: messageSize)
for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
let fernet = try Fernet(clusterKey: "BenchmarkKeyBenchmarkKey01234567")
let encoder = MessageEncoder(fernet: fernet)

// Reference: copy the same bytes (memcpy through Array append).
var sink = 0
var t0 = now()
for _ in 0..<count {
    var copy = [UInt8]()
    copy.reserveCapacity(messageSize)
    copy.append(contentsOf: payload)
    sink &+= Int(copy[messageSize / 2])
}
let copySeconds = now() - t0

t0 = now()
var frames: [[UInt8]] = []
for i in 0..<count { frames.append(try encoder.encode(counter: UInt32(i), command: "file_upd", payload: payload)) }
let encodeSeconds = now() - t0

t0 = now()
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
let decodeSeconds = now() - t0
precondition(decoded == messageSize * count, "decode lost bytes")

func line(_ name: String, _ s: Double) -> String {
    String(format: "%-22@ %8.1f MB/s  (%.3f s)  copy/this = %.1fx", name as NSString, totalMB / s, s, s / copySeconds)
}
print(String(format: "wire codec: %d messages of 5 MiB = %.0f MB, one core", count, totalMB))
print(String(format: "%-22@ %8.1f MB/s  (%.3f s)", "reference copy" as NSString, totalMB / copySeconds, copySeconds))
print(line("encrypt+frame", encodeSeconds))
print(line("decode+decrypt", decodeSeconds))
let target = 300.0
let ok = totalMB / encodeSeconds >= target && totalMB / decodeSeconds >= target
print("target: >= \(Int(target)) MB/s each way: \(ok ? "met" : "NOT met")")
if sink == 42 { print("") }
if CommandLine.arguments.contains("--components") {
    let token = fernet.encrypt(payload)
    var t = now(); for _ in 0..<10 { sink &+= Base64URL.decode(token)!.count }; print("b64 decode", (now() - t) / 10)
    t = now(); for _ in 0..<10 { sink &+= Base64URL.encode(payload).count }; print("b64 encode", (now() - t) / 10)
    t = now(); for _ in 0..<10 { sink &+= try fernet.decrypt(token).count }; print("fernet decrypt", (now() - t) / 10)
}
