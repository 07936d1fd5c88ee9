import Common
import Foundation

/// What the agent functions share: reading their kwargs into an `AgentQuery`, agent and group ids, and
/// turning store failures into `WazuhInternalError`s.
enum DapiAgentSupport {
    /// The framework's default page size (`DATABASE_LIMIT`).
    static let defaultLimit = 500

    /// A store failure as the error the API shows: 2008, as 4.8.1 maps a database OperationalError (the
    /// extra message names the database and what failed).
    static func store<T>(_ body: () throws(StoreError) -> T) throws(WazuhException) -> T {
        do { return try body() } catch { throw .internal(2008, error.description) }
    }

    /// An agent id as the API writes it ("001", "1", 1) as a number; nil for anything else.
    static func agentID(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 9, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(s)
    }

    /// Values of a `filters` entry: a string (comma-separated values), a number, or a list of them.
    static func filterValues(_ call: DapiCall, _ key: String, _ v: JSONValue) throws(WazuhException) -> [String] {
        switch v {
        case .string(let s): return s.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        case .int(let i): return [String(i)]
        case .bool(let b): return [b ? "true" : "false"]
        case .null: return []
        case .array(let a):
            var out: [String] = []
            for x in a {
                switch x {
                case .string(let s): out.append(s)
                case .int(let i): out.append(String(i))
                default: throw .error(1000, "filter '\(key)' of \(call.functionName) must hold strings, got \(x.pythonText.prefix(60))")
                }
            }
            return out
        default:
            throw .error(1000, "filter '\(key)' of \(call.functionName) must be a string or a list of strings")
        }
    }

    /// `offset`, `limit`, `select`, `sort`, `search`, `q`, `distinct` and `filters` (with `older_than`)
    /// of a listing call. `defaultLimit` applies when the call names no limit at all; an explicit null
    /// means no limit.
    static func query(_ call: DapiCall, defaultLimit: Int? = DapiAgentSupport.defaultLimit) throws(WazuhException) -> AgentQuery {
        var q = AgentQuery()
        q.offset = try call.int("offset") ?? 0
        q.limit = call.kwargs["limit"] == nil ? defaultLimit : try call.int("limit")
        q.select = try call.stringList("select")
        q.q = try call.string("q")
        q.distinct = try call.bool("distinct") ?? false
        if let sort = try call.object("sort") {
            var fields: [String] = []
            switch sort["fields"] {
            case .array(let a)?: fields = a.compactMap(\.stringValue)
            case .string(let s)?: fields = s.split(separator: ",").map(String.init)
            default: break
            }
            let order = sort["order"]?.stringValue ?? "asc"
            guard order == "asc" || order == "desc" else {
                throw .error(1402, "sort order '\(order)' is neither asc nor desc")
            }
            if !fields.isEmpty { q.sort = fields.map { ($0, order == "asc") } }
        }
        if let search = try call.object("search") {
            let value = search["value"]?.stringValue ?? ""
            let negation: Bool
            switch search["negation"] {
            case .bool(let b)?: negation = b
            case .int(let i)?: negation = i != 0
            case .string(let s)?: negation = s == "1" || s == "true"
            default: negation = false
            }
            q.search = (value, negation)
        }
        if let filters = try call.object("filters") {
            for (key, value) in filters {
                if key == "older_than" {
                    guard let text = value.stringValue ?? value.intValue.map({ String($0) }) else { continue }
                    guard let seconds = AgentQuery.timeframeSeconds(text) else {
                        throw .error(1411, "older_than '\(text)'")
                    }
                    q.olderThan = seconds
                    continue
                }
                let values = try filterValues(call, key, value)
                if !values.isEmpty { q.filters.append((key, values)) }
            }
        }
        return q
    }

    /// Group names the framework accepts: letters, digits, `-`, `_`, `.`; at most 255 bytes; not `.`/`..`.
    static func isValidGroupName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 255 && s != "." && s != ".." && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E
        }
    }

    static func sharedPath(_ env: DapiEnvironment) -> String { env.home + "/etc/shared" }

    /// Whether `etc/shared/<name>` is a group directory (the name must be valid first).
    static func groupExists(_ env: DapiEnvironment, _ name: String) -> Bool {
        guard isValidGroupName(name) else { return false }
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: sharedPath(env) + "/" + name, isDirectory: &isDir) && isDir.boolValue
    }

    /// The group directories of `etc/shared`, sorted.
    static func groupNames(_ env: DapiEnvironment) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sharedPath(env))) ?? []
        return names.filter { groupExists(env, $0) }.sorted()
    }
}
