import Common
import Foundation

/// The master's built-in agent registration (authd's JSON `add` / `remove`, LOCAL-DAPI-CONTROL.md §5.1):
/// next free id, a random 64-hex key, duplicate name and IP refused, groups validated against
/// `etc/shared/<group>/`. `etc/client.keys` is rewritten atomically and the agent row inserted with
/// `group_sync_status='syncreq'` so its groups reach the workers. Either both happen or neither.
///
/// Registrations run on the CPU pool (they write `client.keys` and SQLite), one at a time under `lock`,
/// which guards `cache`: ids and duplicate checks need them in order.
final class RegistrationService: @unchecked Sendable {
    let ctx: NodeContext
    let store: any AgentBackend
    private let lock = NSLock()

    init(ctx: NodeContext, store: any AgentBackend) {
        self.ctx = ctx
        self.store = store
    }

    private var keysPath: String { ctx.home + "/etc/client.keys" }

    /// `client.keys` as last read or written, with what duplicate checks need. Reloaded whenever the file
    /// changes behind our back (size, mtime or inode differ), so an operator's edit is respected; otherwise
    /// a registration costs one append to this buffer and one file write, not a parse of every key.
    private struct KeysCache {
        var text: [UInt8] = []
        var names: Set<String> = []
        var ips: Set<String> = []
        var ids: Set<Int> = []
        var maxID = 0
        var stamp: (Int, Int, UInt64, UInt64) = (-1, -1, 0, 0)
    }
    private var cache = KeysCache()

    private func fileStamp() -> (Int, Int, UInt64, UInt64) {
        var st = stat()
        guard stat(keysPath, &st) == 0 else { return (-1, -1, 0, 0) }
        return (Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), UInt64(st.st_ino), UInt64(st.st_dev))
    }

    private func currentKeys() -> KeysCache {
        let stamp = fileStamp()
        if stamp == cache.stamp { return cache }
        var fresh = KeysCache()
        fresh.text = (try? FileIO.readAll(path: keysPath)) ?? []
        for e in ClientKeys.parse(String(decoding: fresh.text, as: UTF8.self)) {
            fresh.names.insert(e.name)
            fresh.ids.insert(e.id)
            fresh.maxID = max(fresh.maxID, e.id)
            if e.ip != "any" { fresh.ips.insert(e.ip) }
        }
        fresh.stamp = stamp
        cache = fresh
        return fresh
    }

    static func reply(error code: Int, _ message: String) -> String {
        JSONValue.object(JSONObject([("error", .int(Int64(code))), ("message", .string(message))])).compactText
    }

    /// Answers one authd request.
    func handle(_ text: [UInt8]) async -> String {
        do {
            return try await ctx.pool.run { self.lock.withLock { self.handleLocked(text) } }
        } catch {
            return Self.reply(error: 9001, "The registration service is stopping: \(error)")
        }
    }

    private func handleLocked(_ text: [UInt8]) -> String {
        guard let request = try? JSONParser.parse(text), case .object = request else {
            return Self.reply(error: 9002, "Parsing JSON input")
        }
        guard let function = request["function"]?.stringValue else { return Self.reply(error: 9003, "No such function") }
        let arguments = request["arguments"] ?? .object(JSONObject())
        switch function {
        case "add": return add(arguments)
        case "remove": return remove(arguments)
        default: return Self.reply(error: 9003, "No such function: \(function)")
        }
    }

    private func add(_ args: JSONValue) -> String {
        guard let name = args["name"]?.stringValue, !name.isEmpty else { return Self.reply(error: 9005, "No such name") }
        guard Self.isValidName(name) else {
            return Self.reply(error: 9005, "Invalid agent name: \(name)")
        }
        let ip = args["ip"]?.stringValue ?? "any"
        let groups = (args["groups"]?.stringValue ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        for g in groups {
            var isDir: ObjCBool = false
            guard Self.isValidName(g), FileManager.default.fileExists(atPath: ctx.home + "/etc/shared/" + g, isDirectory: &isDir), isDir.boolValue else {
                return Self.reply(error: 9014, "Invalid Group(s) Name(s)")
            }
        }
        do {
            var keys = currentKeys()
            if name == ctx.config.nodeName || keys.names.contains(name) {
                return Self.reply(error: 9008, "Duplicate name")
            }
            if ip != "any" && keys.ips.contains(ip) { return Self.reply(error: 9007, "Duplicate IP") }
            var id = max(try store.nextFreeID(), keys.maxID + 1)
            while keys.ids.contains(id) { id += 1 }
            let key = Self.randomKey()
            let idText = String(format: "%03d", id)
            var newKeys = keys.text
            if let last = newKeys.last, last != 0x0A { newKeys.append(0x0A) }
            newKeys += Array("\(idText) \(name) \(ip) \(key)\n".utf8)
            // Stage the file, insert the row, then publish the file: a failure on either side leaves both as they were.
            let staged = keysPath + ".clusterd.tmp"
            try FileIO.writeFile(path: staged, newKeys)
            chmod(staged, 0o640)
            do {
                try store.insertAgent(id: id, name: name, ip: ip, key: key, groups: groups.isEmpty ? ["default"] : groups,
                                      groupSyncStatus: "syncreq", dateAdd: Int(Date().timeIntervalSince1970))
            } catch {
                unlink(staged)
                throw error
            }
            guard rename(staged, keysPath) == 0 else {
                let e = errno
                unlink(staged)
                try? store.deleteAgent(id: id)
                throw SystemCallError("rename", path: keysPath, errno: e)
            }
            keys.text = newKeys
            keys.names.insert(name)
            keys.ids.insert(id)
            keys.maxID = max(keys.maxID, id)
            if ip != "any" { keys.ips.insert(ip) }
            keys.stamp = fileStamp()
            cache = keys
            ctx.log.info(tag: "Master", subtag: "SendSync", "Agent '\(name)' registered with id \(idText).")
            let data = JSONObject([("id", .string(idText)), ("name", .string(name)), ("ip", .string(ip)), ("key", .string(key))])
            return JSONValue.object(JSONObject([("error", 0), ("data", .object(data))])).compactText
        } catch {
            ctx.log.error(tag: "Master", subtag: "SendSync", "Registration of '\(name)' failed: \(error)")
            return Self.reply(error: 9001, "Internal error: \(error)")
        }
    }

    private func remove(_ args: JSONValue) -> String {
        guard let idText = args["id"]?.stringValue, let id = Int(idText) else { return Self.reply(error: 9010, "No such agent ID") }
        do {
            let current = (try? String(contentsOfFile: keysPath, encoding: .utf8)) ?? ""
            let lines = current.split(separator: "\n", omittingEmptySubsequences: false)
            let kept = lines.filter { line in
                let first = line.split(separator: " ").first.map(String.init) ?? ""
                return Int(first) != id
            }
            guard kept.count != lines.count else { return Self.reply(error: 9011, "Agent ID not found") }
            let staged = keysPath + ".clusterd.tmp"
            try FileIO.writeFile(path: staged, Array(kept.joined(separator: "\n").utf8))
            chmod(staged, 0o640)
            guard rename(staged, keysPath) == 0 else { throw SystemCallError("rename", path: keysPath, errno: errno) }
            try store.deleteAgent(id: id)
            return JSONValue.object(JSONObject([("error", 0), ("data", "Agent deleted successfully.")])).compactText
        } catch {
            return Self.reply(error: 9001, "Internal error: \(error)")
        }
    }

    /// Agent and group names authd accepts: letters, digits, `-`, `_`, `.`; at most 128 characters.
    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s != "." && s != ".." && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E
        }
    }

    static func randomKey() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}
