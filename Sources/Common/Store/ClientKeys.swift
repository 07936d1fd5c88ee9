/// `etc/client.keys`: one agent per line, `<id> <name> <ip> <key>` (LOCAL-DAPI-CONTROL.md §5.2).
public enum ClientKeys {
    public typealias Entry = (id: Int, name: String, ip: String, key: String)

    /// The live entries of a client.keys text. Skips blank lines, comments (`#…`), entries authd marked
    /// removed (a name starting with '!' or '#'), and lines that are not `<digits> <name> <ip> <key>`.
    public static func parse(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        for line in text.split(whereSeparator: \.isNewline) {  // "\r\n" is one Character
            let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
            guard fields.count == 4, !fields[0].hasPrefix("#"),
                  fields[0].allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int(fields[0]),
                  !fields[1].hasPrefix("!"), !fields[1].hasPrefix("#")
            else { continue }
            let key = trimmed(fields[3])
            guard !key.isEmpty else { continue }
            entries.append((id, String(fields[1]), String(fields[2]), key))
        }
        return entries
    }

    /// client.keys text for `entries`, one line each, ids zero-padded to 3 digits.
    public static func format(_ entries: [Entry]) -> String {
        entries.map { "\(paddedID($0.id)) \($0.name) \($0.ip) \($0.key)\n" }.joined()
    }

    /// An agent id as Wazuh prints it: at least 3 digits (`001`, `1234`).
    public static func paddedID(_ id: Int) -> String {
        let digits = String(id)
        return digits.count >= 3 ? digits : String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// `s` without leading and trailing spaces or tabs (a key line may end in stray whitespace).
    private static func trimmed(_ s: Substring) -> String {
        var t = s
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        return String(t)
    }
}
