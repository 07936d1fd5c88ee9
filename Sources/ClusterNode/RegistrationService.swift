import Common
import Foundation
import Synchronization

/// The master's built-in agent registration (authd's JSON `add` / `remove`, LOCAL-DAPI-CONTROL.md §5.1):
/// next free id, a random 64-hex key, duplicate name and IP refused, groups validated against
/// `etc/shared/<group>/`. `etc/client.keys` is rewritten atomically and the agent row inserted with
/// `group_sync_status='syncreq'` so its groups reach the workers. Either both happen or neither.
///
/// Registrations run on the CPU pool and are committed in groups: every request waiting when a pool job
/// takes `lock` is answered by that job, with one write of `client.keys` for all of them (authd batches its
/// key writes the same way). Rewriting the file per agent made bulk enrollment quadratic: 20,000 agents
/// meant 20,000 rewrites of a file that grows to 1.8 MB. Requests are processed in arrival order, so ids
/// and duplicate checks are as if they ran one at a time.
final class RegistrationService: @unchecked Sendable {
    let ctx: NodeContext
    let store: any AgentBackend
    /// Guards `cache` and `answers`, and makes one group commit at a time.
    private let lock = NSLock()
    /// Requests not yet taken by a commit, in arrival order.
    private let waiting = Mutex<(next: Int, requests: [(ticket: Int, text: [UInt8])])>((0, []))
    /// Answers of requests a commit served for a job that has not collected them yet.
    private var answers: [Int: String] = [:]

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
        let ticket = waiting.withLock { w in
            defer { w.next += 1 }
            w.requests.append((w.next, text))
            return w.next
        }
        do {
            return try await ctx.pool.run { self.lock.withLock { self.collect(ticket) } }
        } catch {
            // The pool is stopping; a commit that already took the request may have answered it.
            _ = lock.withLock { answers.removeValue(forKey: ticket) }
            waiting.withLock { w in w.requests.removeAll { $0.ticket == ticket } }
            return Self.reply(error: 9001, "The registration service is stopping: \(error)")
        }
    }

    /// The answer for `ticket`: from the commit that already served it, or from a commit of every request
    /// waiting now (this one among them). Runs under `lock`.
    private func collect(_ ticket: Int) -> String {
        if let answer = answers.removeValue(forKey: ticket) { return answer }
        let batch = waiting.withLock { w in
            defer { w.requests.removeAll() }
            return w.requests
        }
        var mine = Self.reply(error: 9001, "Internal error: the request was lost")
        for (t, answer) in commit(batch.map(\.text)) {
            if batch[t].ticket == ticket { mine = answer } else { answers[batch[t].ticket] = answer }
        }
        return mine
    }

    /// One registration planned by a group commit: its row goes in first, its line is published with the rest.
    private struct Planned {
        let index: Int
        let id: Int
        let name: String
        let ip: String
        let key: String
        let groups: [String]
    }

    /// Answers `requests` in order: the adds together (rows inserted one by one, then one write of the file
    /// holding every line whose row went in), a remove on its own after the adds before it are committed.
    private func commit(_ requests: [[UInt8]]) -> [(Int, String)] {
        var out: [(Int, String)] = []
        var planned: [Planned] = []
        var keys = currentKeys()
        var nextID: Int?
        var taken = Taken()
        func flush() {
            out += publish(planned, keys: &keys)
            planned.removeAll()
            taken = Taken()
            nextID = nil
        }
        for (i, text) in requests.enumerated() {
            guard let request = try? JSONParser.parse(text), case .object = request else {
                out.append((i, Self.reply(error: 9002, "Parsing JSON input"))); continue
            }
            guard let function = request["function"]?.stringValue else {
                out.append((i, Self.reply(error: 9003, "No such function"))); continue
            }
            let arguments = request["arguments"] ?? .object(JSONObject())
            switch function {
            case "add":
                switch plan(arguments, index: i, keys: keys, taken: taken, nextID: &nextID) {
                case .success(let p):
                    planned.append(p)
                    taken.names.insert(p.name)
                    if p.ip != "any" { taken.ips.insert(p.ip) }
                case .failure(let refusal):
                    out.append((i, refusal.text))
                }
            case "remove":
                flush()
                out.append((i, remove(arguments)))
                keys = currentKeys()
            default:
                out.append((i, Self.reply(error: 9003, "No such function: \(function)")))
            }
        }
        flush()
        return out
    }

    private struct Refusal: Error { let text: String }
    /// Names and addresses of the registrations planned in the commit so far.
    private struct Taken {
        var names: Set<String> = []
        var ips: Set<String> = []
    }

    /// Checks an `add` against the keys and the registrations planned before it in the same commit.
    private func plan(_ args: JSONValue, index: Int, keys: KeysCache, taken: Taken, nextID: inout Int?) -> Result<Planned, Refusal> {
        guard let name = args["name"]?.stringValue, !name.isEmpty else { return .failure(Refusal(text: Self.reply(error: 9005, "No such name"))) }
        guard Self.isValidName(name) else {
            return .failure(Refusal(text: Self.reply(error: 9005, "Invalid agent name: \(name)")))
        }
        let ip = args["ip"]?.stringValue ?? "any"
        let groups = (args["groups"]?.stringValue ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        for g in groups {
            var isDir: ObjCBool = false
            guard Self.isValidName(g), FileManager.default.fileExists(atPath: ctx.home + "/etc/shared/" + g, isDirectory: &isDir), isDir.boolValue else {
                return .failure(Refusal(text: Self.reply(error: 9014, "Invalid Group(s) Name(s)")))
            }
        }
        if name == ctx.config.nodeName || keys.names.contains(name) || taken.names.contains(name) {
            return .failure(Refusal(text: Self.reply(error: 9008, "Duplicate name")))
        }
        if ip != "any" && (keys.ips.contains(ip) || taken.ips.contains(ip)) {
            return .failure(Refusal(text: Self.reply(error: 9007, "Duplicate IP")))
        }
        var id: Int
        if let nextID { id = nextID } else {
            do { id = max(try store.nextFreeID(), keys.maxID + 1) } catch {
                ctx.log.error(tag: "Master", subtag: "SendSync", "Registration of '\(name)' failed: \(error)")
                return .failure(Refusal(text: Self.reply(error: 9001, "Internal error: \(error)")))
            }
        }
        while keys.ids.contains(id) { id += 1 }
        nextID = id + 1
        return .success(Planned(index: index, id: id, name: name, ip: ip, key: Self.randomKey(),
                                groups: groups.isEmpty ? ["default"] : groups))
    }

    /// Inserts the planned rows, then publishes `client.keys` with the line of every row that went in; a
    /// row refused by the database fails only its own request, a file that cannot be written fails all of
    /// them and takes their rows out again: either both the row and the line exist, or neither.
    private func publish(_ planned: [Planned], keys: inout KeysCache) -> [(Int, String)] {
        guard !planned.isEmpty else { return [] }
        var out: [(Int, String)] = []
        var inserted: [Planned] = []
        let now = Int(Date().timeIntervalSince1970)
        for p in planned {
            do {
                try store.insertAgent(id: p.id, name: p.name, ip: p.ip, key: p.key, groups: p.groups,
                                      groupSyncStatus: "syncreq", dateAdd: now)
                inserted.append(p)
            } catch {
                ctx.log.error(tag: "Master", subtag: "SendSync", "Registration of '\(p.name)' failed: \(error)")
                out.append((p.index, Self.reply(error: 9001, "Internal error: \(error)")))
            }
        }
        guard !inserted.isEmpty else { return out }
        var newKeys = keys.text
        if let last = newKeys.last, last != 0x0A { newKeys.append(0x0A) }
        for p in inserted { newKeys += Array("\(ClientKeys.paddedID(p.id)) \(p.name) \(p.ip) \(p.key)\n".utf8) }
        let staged = keysPath + ".clusterd.tmp"
        do {
            try FileIO.writeFile(path: staged, newKeys)
            chmod(staged, 0o640)
            guard rename(staged, keysPath) == 0 else { throw SystemCallError("rename", path: keysPath, errno: errno) }
        } catch {
            unlink(staged)
            for p in inserted {
                try? store.deleteAgent(id: p.id)
                ctx.log.error(tag: "Master", subtag: "SendSync", "Registration of '\(p.name)' failed: \(error)")
                out.append((p.index, Self.reply(error: 9001, "Internal error: \(error)")))
            }
            return out
        }
        keys.text = newKeys
        for p in inserted {
            keys.names.insert(p.name)
            keys.ids.insert(p.id)
            keys.maxID = max(keys.maxID, p.id)
            if p.ip != "any" { keys.ips.insert(p.ip) }
            let idText = ClientKeys.paddedID(p.id)
            ctx.log.info(tag: "Master", subtag: "SendSync", "Agent '\(p.name)' registered with id \(idText).")
            let data = JSONObject([("id", .string(idText)), ("name", .string(p.name)), ("ip", .string(p.ip)), ("key", .string(p.key))])
            out.append((p.index, JSONValue.object(JSONObject([("error", 0), ("data", .object(data))])).compactText))
        }
        keys.stamp = fileStamp()
        cache = keys
        return out
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
