import Common
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wazuh.cdb_list` (GET /lists/files, GET/PUT/DELETE /lists/files/{filename}): CDB list sources under
/// `etc/lists` (compiled `.cdb` files and integrity-excluded names are not lists).
enum DapiListFunctions {
    static let userDir = "etc/lists"

    static func lists(_ home: String) -> [(filename: String, dir: String)] {
        DapiRulesetFiles.list(home: home, dirs: [userDir], xmlOnly: false) { name in
            name.hasSuffix(".cdb") || ClusterItems.wazuh481.isExcluded(basename: name)
        }
    }

    static func getPathLists(_ call: DapiCall) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "All specified paths were returned", someMsg: "Some paths were not returned",
                                   noneMsg: "No path was returned")
        var items = lists(call.env.home)
        if let names = try call.stringList("filename") { items = items.filter { names.contains($0.filename) } }
        if let dir = try call.string("relative_dirname") { items = items.filter { $0.dir == dir } }
        let query = try DapiItemQuery(call)
        let json: [JSONValue] = items.map { .object(JSONObject([("filename", .string($0.filename)), ("relative_dirname", .string($0.dir))])) }
        (result.affectedItems, result.totalAffectedItems) = try query.apply(to: json)
        return .affected(result)
    }

    /// `get_list_file`: the list named `filename`, searched recursively under `etc/lists` (the shallowest
    /// match wins). `raw`: the text, which the DAPI carries as a `WazuhResult` `{"message": text}`;
    /// otherwise `{key: value}` (quotes around keys or values removed).
    static func getListFile(_ call: DapiCall) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: "CDB list was returned", noneMsg: "No list was returned")
        let filename = try call.stringList("filename")?.first ?? ""
        let raw = try call.bool("raw") ?? false
        do {
            let hit = lists(call.env.home).filter { $0.filename == filename }.min { $0.dir.count < $1.dir.count }
            let relative = hit.map { $0.dir + "/" + filename } ?? userDir + "/" + filename
            let text: String
            do { text = try DapiRulesetFiles.readText(call.env.home + "/" + relative) } catch {
                switch error.errno {
                case ENOENT: throw WazuhException.error(1802)
                case EACCES: throw WazuhException.error(1803)
                default: throw WazuhException.error(1804, "WAZUH_HOME/\(relative) \(error.reason)")
                }
            }
            if raw { return .result(WazuhResultValue(JSONObject([("message", .string(text))]))) }
            guard let pairs = parse(text) else { throw badFormat(relative) }
            result.affectedItems = [.object(JSONObject(pairs.map { ($0.0, .string($0.1)) }))]
            result.totalAffectedItems = 1
        } catch let e as WazuhException where DapiRulesetFiles.isItemError(e) {
            result.addFailed(id: filename, error: e)
        }
        return .affected(result)
    }

    static func badFormat(_ relative: String) -> WazuhException {
        var e = WazuhException.error(1800)
        e.formatArgs = JSONObject([("path", .string(relative))])
        return e
    }

    /// CDB source lines `key:value`: the key a `"quoted"` string or a non-empty run without `:` and `"`, the
    /// value a quoted string or a run without `"` (possibly empty). Blank lines are allowed. nil: bad format.
    static func parse(_ text: String) -> [(String, String)]? {
        var out: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let key: Substring, rest: Substring
            if l.hasPrefix("\"") {
                guard let close = l.dropFirst().firstIndex(of: "\"") else { return nil }
                key = l[l.index(after: l.startIndex)..<close]
                rest = l[l.index(after: close)...]
                if key.isEmpty { return nil }
            } else {
                guard let colon = l.firstIndex(of: ":") else { return nil }
                key = l[..<colon]
                rest = l[colon...]
                if key.isEmpty || key.contains("\"") { return nil }
            }
            guard rest.hasPrefix(":") else { return nil }
            var value = rest.dropFirst()
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\""), !value.dropFirst().dropLast().contains("\"") else { return nil }
                value = value.dropFirst().dropLast()
            } else if value.contains("\"") {
                return nil
            }
            out.append((String(key), String(value)))
        }
        return out
    }

    static func upload(_ call: DapiCall) throws -> DapiOutcome {
        let filename = try call.string("filename") ?? ""
        let content = try call.string("content") ?? ""
        let overwrite = try call.bool("overwrite") ?? false
        let relative = userDir + "/" + filename
        return try DapiRulesetFiles.singleFile(relative, allMsg: "CDB list file uploaded successfully", noneMsg: "Could not upload CDB list file") {
            try DapiRulesetFiles.checkName(filename, xml: false)
            if content.isEmpty { throw WazuhException.error(1112) }
            if parse(content) == nil { throw badFormat(relative) }
            let path = call.env.home + "/" + relative
            if !overwrite && DapiRulesetFiles.exists(path) { throw WazuhException.error(1905) }
            if lists(call.env.home).contains(where: { $0.filename == filename && $0.dir != userDir }) {
                throw WazuhException.error(1805)
            }
            do throws(SystemCallError) { try DapiRulesetFiles.writeAtomically(path, content) } catch {
                throw WazuhException.error(1806, "\(relative): \(error.reason)")
            }
        }
    }

    static func delete(_ call: DapiCall) throws -> DapiOutcome {
        let filename = try call.stringList("filename")?.first ?? ""
        let relative = userDir + "/" + filename
        return try DapiRulesetFiles.singleFile(relative, allMsg: "CDB list file was successfully deleted", noneMsg: "Could not delete CDB list file") {
            try DapiRulesetFiles.checkName(filename, xml: false)
            try DapiRulesetFiles.removeUserFile(home: call.env.home, relative: relative)
        }
    }
}
