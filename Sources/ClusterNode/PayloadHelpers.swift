import Foundation

/// Parsing of `<task id> <rest>` payloads.
func splitFirstSpace(_ payload: [UInt8]) -> (String, [UInt8]) {
    guard let i = payload.firstIndex(of: 0x20) else { return (String(decoding: payload, as: UTF8.self), []) }
    return (String(decoding: payload[..<i], as: UTF8.self), Array(payload[(i + 1)...]))
}

/// A new package path `queue/cluster/<worker>/<worker>-<epoch>-<uuid hex>.zip`, named as 4.8.1 names them.
func newPackagePath(home: String, worker: String) -> String {
    let stamp = String(format: "%.6f", Date().timeIntervalSince1970)
    let hex = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    return "\(home)/queue/cluster/\(worker)/\(worker)-\(stamp)-\(hex).zip"
}

func elapsed(since start: Date) -> String { String(format: "%.3fs", Date().timeIntervalSince(start)) }
