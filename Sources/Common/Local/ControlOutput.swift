import Foundation

/// The text `cluster_control` 4.8.1 writes to stdout (LOCAL-DAPI-CONTROL.md §2.10), from the JSON the
/// daemon returns. Pure functions; each result is exactly what 4.8.1 prints, final newline(s) included.
public enum ControlOutput {
    /// The `-l`/`-a` table: each column as wide as its widest cell plus 2, every cell (the last too)
    /// left-justified, so lines end in spaces; one line per row, a single `print`.
    public static func table(headers: [String], rows: [[String]]) -> String {
        let all = [headers.map { $0.uppercased() }] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], PythonText.length(cell)) }
        }
        let lines = all.map { row in
            row.enumerated().map { PythonText.ljust($0.element, widths[$0.offset] + 2) }.joined()
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `-l`: the values of each `get_nodes` item in their order (`name, type, version, ip`).
    public static func nodesTable(items: [JSONValue]) -> String {
        let rows = items.map { item in item.objectValue.map { $0.values.map(PythonText.str) } ?? [PythonText.str(item)] }
        return table(headers: ["Name", "Type", "Version", "Address"], rows: rows)
    }

    /// Agent fields `-a` shows, in column order, with their headers.
    public static let agentColumns: [(key: String, header: String)] = [
        ("id", "ID"), ("name", "Name"), ("ip", "IP"), ("status", "Status"), ("version", "Version"), ("node_name", "Node name"),
    ]

    /// `-a`: one row per agent; a missing field shows `unknown` (as `control.get_agents` fills it).
    public static func agentsTable(items: [JSONValue]) -> String {
        let rows = items.map { item in agentColumns.map { item[$0.key].map(PythonText.str) ?? "unknown" } }
        return table(headers: agentColumns.map(\.header), rows: rows)
    }

    /// `-i` (one line per worker) or `-i more` (a block per node, the master included), nodes sorted by name.
    public static func health(clusterName: String, health: JSONValue, more: Bool) -> String {
        let connected = health["n_connected_nodes"].map(PythonText.str) ?? "0"
        let nodes = (health["nodes"]?.objectValue.map { Array($0) } ?? [])
            .sorted { PythonText.codePointLess($0.key, $1.key) }
        var out: String
        if !more {
            out = "Cluster name: \(clusterName)\n\nLast completed synchronization for connected nodes (\(connected)):\n"
            for (name, node) in nodes where !isMaster(node) {
                let s = node["status"] ?? .null
                out += "    \(name) (\(text(node, "info", "ip"))): "
                    + "Integrity check: \(text(s, "last_check_integrity", "date_end_master")) | "
                    + "Integrity sync: \(text(s, "last_sync_integrity", "date_end_master")) | "
                    + "Agents-info: \(text(s, "last_sync_agentinfo", "date_end_master")) | "
                    + "Agent-groups: \(text(s, "last_sync_agentgroup", "date_end")) | "
                    + "Agent-groups full: \(text(s, "last_sync_full_agentgroup", "date_end")) | "
                    + "Last keep alive: \(text(s, "last_keep_alive")).\n"
            }
            return out + "\n"
        }
        out = "Cluster name: \(clusterName)\n\nConnected nodes (\(connected)):\n"
        for (name, node) in nodes {
            out += "\n    \(name) (\(text(node, "info", "ip")))\n"
            out += "        Version: \(text(node, "info", "version"))\n"
            out += "        Type: \(text(node, "info", "type"))\n"
            out += "        Active agents: \(text(node, "info", "n_active_agents"))\n"
            guard !isMaster(node), let s = node["status"] else { continue }
            out += "        Status:\n"
            out += "            Last keep Alive:\n"
            out += "                Last received: \(text(s, "last_keep_alive")).\n"
            out += "            Integrity check:\n"
            out += "                Last integrity check: \(span(s["last_check_integrity"], "date_start_master", "date_end_master")).\n"
            out += "                Permission to check integrity: \(text(s, "sync_integrity_free")).\n"
            out += "            Integrity sync:\n"
            out += "                Last integrity synchronization: \(span(s["last_sync_integrity"], "date_start_master", "date_end_master")).\n"
            let files = s["last_sync_integrity"]?["total_files"] ?? .null
            out += "                Synchronized files: Shared: \(text(files, "shared")) | Missing: \(text(files, "missing")) | Extra: \(text(files, "extra")).\n"
            out += "            Agents-info:\n"
            out += "                Last synchronization: \(span(s["last_sync_agentinfo"], "date_start_master", "date_end_master")).\n"
            out += "                Number of synchronized chunks: \(text(s, "last_sync_agentinfo", "n_synced_chunks")).\n"
            out += "                Permission to synchronize agent-info: \(text(s, "sync_agent_info_free")).\n"
            out += "            Agents-groups:\n"
            out += "                Last synchronization: \(span(s["last_sync_agentgroup"], "date_start", "date_end")).\n"
            out += "                Number of synchronized chunks: \(text(s, "last_sync_agentgroup", "n_synced_chunks")).\n"
            out += "            Agents-groups full:\n"
            out += "                Last synchronization: \(span(s["last_sync_full_agentgroup"], "date_start", "date_end")).\n"
            out += "                Number of synchronized chunks: \(text(s, "last_sync_full_agentgroup", "n_synced_chunks")).\n"
        }
        return out + "\n"
    }

    /// `calculate_seconds`: `n/a` if either date is `n/a`; else the difference in seconds rounded to
    /// milliseconds (`round(s, 3)`, at least `0.001`) in Python float notation with an `s` suffix.
    public static func calculateSeconds(start: String, end: String) -> String {
        guard start != "n/a", end != "n/a", let a = HealthDate.microseconds(start), let b = HealthDate.microseconds(end) else {
            // Unparsable dates made 4.8.1 crash with a traceback; `n/a` keeps the report readable.
            return "n/a"
        }
        // timedelta.total_seconds(): microseconds / 10**6, a correctly rounded division, as here.
        let seconds = Double(b - a) / 1_000_000
        guard seconds >= 0.0005 else { return "0.001s" }
        // round(x, 3) rounds the exact binary value half-even; "%.3f" does the same, and reading it back
        // gives the double Python prints with repr.
        let rounded = Double(String(format: "%.3f", seconds)) ?? seconds
        return PythonJSONEncoder.pythonFloat(rounded) + "s"
    }

    /// `<duration> (<start> - <end>)` for a health status section.
    static func span(_ section: JSONValue?, _ startKey: String, _ endKey: String) -> String {
        let start = section?[startKey].map(PythonText.str) ?? "n/a"
        let end = section?[endKey].map(PythonText.str) ?? "n/a"
        return "\(calculateSeconds(start: start, end: end)) (\(start) - \(end))"
    }

    /// `str()` of a nested value; `n/a` where the daemon left it out (4.8.1 would raise KeyError).
    static func text(_ value: JSONValue, _ path: String...) -> String {
        var current: JSONValue? = value
        for key in path { current = current?[key] }
        return current.map(PythonText.str) ?? "n/a"
    }

    static func isMaster(_ node: JSONValue) -> Bool { node["info"]?["type"]?.stringValue == "master" }
}

/// The health report's dates, `%Y-%m-%dT%H:%M:%S.%fZ` (UTC).
enum HealthDate {
    /// Microseconds since the epoch, or nil when the text does not have that shape. `%f` takes 1–6
    /// digits, padded on the right as Python's `strptime` does.
    static func microseconds(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        guard u.count >= 21, u.last == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= u.count else { return nil }
            var v: Int64 = 0
            for b in u[from..<from + count] {
                guard b >= 0x30, b <= 0x39 else { return nil }
                v = v * 10 + Int64(b - 0x30)
            }
            return v
        }
        guard u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T"), u[13] == UInt8(ascii: ":"),
              u[16] == UInt8(ascii: ":"), u[19] == UInt8(ascii: "."),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
              let minute = number(14, 2), let second = number(17, 2), (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second < 62
        else { return nil }
        let fractionDigits = u.count - 21
        guard (1...6).contains(fractionDigits), var fraction = number(20, fractionDigits) else { return nil }
        for _ in fractionDigits..<6 { fraction *= 10 }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + fraction
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
