import Crypto

/// The group hashes wazuh-db keeps so master and workers can compare agent-group assignments cheaply
/// (PROTOCOL.md §7.2 step 4).
public enum GroupHash {
    /// An agent's group CSV: its group names in `belongs` priority order, joined by ','. nil without groups.
    public static func csv(_ groups: [String]) -> String? {
        groups.isEmpty ? nil : groups.joined(separator: ",")
    }

    /// `group_hash`: the first 8 hex digits of SHA-256 of the CSV.
    public static func agentHash(csv: String) -> String {
        String(hex(SHA256.hash(data: Array(csv.utf8))).prefix(8))
    }

    /// The global hash: hex SHA-1 of the concatenated `group_hash` values (agents id > 0, non-null hash,
    /// id order). nil when there is no such agent.
    public static func global<S: Sequence>(_ agentHashes: S) -> String? where S.Element == String {
        var sha = Insecure.SHA1()
        var any = false
        for h in agentHashes {
            sha.update(data: Array(h.utf8))
            any = true
        }
        return any ? hex(sha.finalize()) : nil
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
