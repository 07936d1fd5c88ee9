import Common
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wazuh.manager.ossec_log` / `ossec_log_summary` over this node's own logs.
///
/// What is read, and how it maps to 4.8.1's `{timestamp, tag, level, description}` entries:
/// * `logs/ossec.log`, when present (the C daemons' log): lines `YYYY/MM/DD HH:MM:SS <tag>[<pid>]: <LEVEL>:
///   <text>` with LEVEL one of DEBUG, INFO, CRITICAL, ERROR, WARNING; `tag` is the daemon (and module) name
///   before `: LEVEL:` without a `[pid]` suffix, `level` the level in lower case, `description` the text
///   with surrounding spaces trimmed. A line that does not start that way continues the previous entry's
///   description (after a newline); before any entry it is skipped.
/// * `logs/cluster.log`, which clusterd writes (LOCAL-DAPI-CONTROL.md §3.4: `YYYY/MM/DD HH:MM:SS LEVEL:
///   [tag] [subtag] message`): `tag` = `wazuh-clusterd` (the daemon, as ossec.log entries name theirs),
///   `level` = the level in lower case with DEBUG2 counted as `debug`, `description` = `[tag] [subtag]
///   message`.
/// * As 4.8.1 does with ossec.log, only the last 2000 lines of each file are read. Both logs use local
///   time; `timestamp` is that moment in UTC as `YYYY-MM-DDTHH:MM:SSZ`. Entries of the two files are merged
///   by timestamp (stable: same-second entries keep their file order, ossec.log first).
/// * Neither file present: `WazuhInternalError` 1020.
enum DapiManagerLogs {
    struct Entry: Equatable {
        var timestamp: String
        var tag: String
        var level: String
        var description: String

        var json: JSONValue {
            .object(JSONObject([("timestamp", .string(timestamp)), ("tag", .string(tag)), ("level", .string(level)),
                                ("description", .string(description))]))
        }
    }

    static let tailLines = 2000
    static let ossecLevels = ["DEBUG", "INFO", "CRITICAL", "ERROR", "WARNING"]

    static func ossecLog(_ call: DapiCall) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "Logs were successfully read in specified node",
                                   someMsg: "Could not read logs in some nodes",
                                   noneMsg: "Could not read logs in specified node")
        var entries = try read(home: call.env.home)
        if let level = try call.string("level"), !level.isEmpty { entries = entries.filter { $0.level == level } }
        if let tag = try call.string("tag"), !tag.isEmpty { entries = entries.filter { $0.tag == tag } }
        let query = try DapiItemQuery(call)
        if let select = query.select, let bad = select.first(where: { !["timestamp", "tag", "level", "description"].contains($0) }) {
            throw WazuhException.error(1724, bad)
        }
        let (items, total) = try query.apply(to: entries.map(\.json))
        result.affectedItems = items
        result.totalAffectedItems = total
        return .affected(result)
    }

    static func ossecLogSummary(_ call: DapiCall) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "Log was successfully summarized in specified node",
                                   someMsg: "Could not summarize the log in some nodes",
                                   noneMsg: "Could not summarize the log in specified node")
        let counted = ["info", "error", "critical", "warning", "debug"]
        var summary: [String: [String: Int]] = [:]
        for e in try read(home: call.env.home) {
            var c = summary[e.tag] ?? [:]
            c["all", default: 0] += 1
            if counted.contains(e.level) { c[e.level, default: 0] += 1 }
            summary[e.tag] = c
        }
        result.affectedItems = summary.keys.sorted().map { tag in
            let c = summary[tag]!
            let counts = JSONObject((["all"] + counted).map { ($0, JSONValue.int(Int64(c[$0] ?? 0))) })
            return .object(JSONObject([(tag, .object(counts))]))
        }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    /// The entries of both logs, merged by timestamp.
    static func read(home: String) throws(WazuhException) -> [Entry] {
        let ossec = tail(home + "/logs/ossec.log"), cluster = tail(home + "/logs/cluster.log")
        if ossec == nil && cluster == nil { throw WazuhException.internal(1020) }
        let all = parseOssec(ossec ?? []) + parseCluster(cluster ?? [])
        return all.enumerated().sorted { a, b in
            a.element.timestamp != b.element.timestamp ? a.element.timestamp < b.element.timestamp : a.offset < b.offset
        }.map(\.element)
    }

    /// The last `tailLines` lines of a file, nil when it cannot be read.
    static func tail(_ path: String) -> [Substring]? {
        guard let bytes = try? FileIO.readAll(path: path) else { return nil }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return Array(lines.suffix(tailLines))
    }

    static func parseOssec(_ lines: [Substring]) -> [Entry] {
        var out: [Entry] = []
        for line in lines {
            if let (date, rest) = splitDate(line), let (tag, level, text) = splitOssec(rest), let ts = utc(date) {
                out.append(Entry(timestamp: ts, tag: tag, level: level.lowercased(), description: trim(text)))
            } else if !out.isEmpty {
                out[out.count - 1].description += "\n" + line
            }
        }
        return out
    }

    static func parseCluster(_ lines: [Substring]) -> [Entry] {
        var out: [Entry] = []
        for line in lines {
            if let (date, rest) = splitDate(line), let colon = rest.firstIndex(of: ":"),
               let ts = utc(date), let level = LogLevel.allCases.first(where: { $0.name == rest[..<colon] }) {
                let name = level == .debug2 ? "debug" : level.name.lowercased()
                out.append(Entry(timestamp: ts, tag: "wazuh-clusterd", level: name,
                                 description: trim(rest[rest.index(after: colon)...])))
            } else if !out.isEmpty {
                out[out.count - 1].description += "\n" + line
            }
        }
        return out
    }

    /// `YYYY/MM/DD HH:MM:SS ` at the start of a line, and the rest.
    static func splitDate(_ line: Substring) -> (Substring, Substring)? {
        let u = Array(line.utf8.prefix(20))
        guard u.count == 20, u[19] == 0x20 else { return nil }
        for (i, c) in u.prefix(19).enumerated() {
            let ok: Bool
            switch i {
            case 4, 7: ok = c == UInt8(ascii: "/")
            case 10: ok = c == 0x20
            case 13, 16: ok = c == UInt8(ascii: ":")
            default: ok = c >= 0x30 && c <= 0x39
            }
            if !ok { return nil }
        }
        let cut = line.utf8.index(line.startIndex, offsetBy: 19)
        return (line[..<cut], line[line.utf8.index(after: cut)...])
    }

    /// `<tag>[<pid>]: <LEVEL>: <text>`: the first `: LEVEL:` decides where the tag ends.
    static func splitOssec(_ rest: Substring) -> (String, String, Substring)? {
        var best: (Range<Substring.Index>, String)?
        for level in ossecLevels {
            if let r = rest.range(of: ": \(level):"), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, level) }
        }
        guard let (r, level) = best, r.lowerBound > rest.startIndex else { return nil }
        var tag = rest[..<r.lowerBound]
        guard !tag.contains(" ") else { return nil }
        if tag.hasSuffix("]"), let open = tag.lastIndex(of: "[") { tag = tag[..<open] }
        return (String(tag), level, rest[r.upperBound...])
    }

    static func trim(_ s: Substring) -> String { s.trimmingCharacters(in: .whitespaces) }

    /// A local `YYYY/MM/DD HH:MM:SS` as UTC `YYYY-MM-DDTHH:MM:SSZ` (`mktime` for the local zone and its
    /// daylight-saving rules, then `gmtime_r`).
    static func utc(_ local: Substring) -> String? {
        let parts = local.split(whereSeparator: { $0 == "/" || $0 == " " || $0 == ":" }).compactMap { Int32($0) }
        guard parts.count == 6 else { return nil }
        var lt = tm()
        (lt.tm_year, lt.tm_mon, lt.tm_mday) = (parts[0] - 1900, parts[1] - 1, parts[2])
        (lt.tm_hour, lt.tm_min, lt.tm_sec, lt.tm_isdst) = (parts[3], parts[4], parts[5], -1)
        var t = mktime(&lt)
        guard t != -1 else { return nil }
        var u = tm()
        gmtime_r(&t, &u)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(u.tm_year + 1900)-\(two(u.tm_mon + 1))-\(two(u.tm_mday))T\(two(u.tm_hour)):\(two(u.tm_min)):\(two(u.tm_sec))Z"
    }
}
