import Foundation
import Testing
@testable import Common

/// A scripted wazuh-db on a Unix socket: each accepted connection reads length-prefixed queries and
/// answers with what `answer` returns (nil closes the connection without answering).
final class FakeWazuhDB: @unchecked Sendable {
    let path: String
    private let listenFD: Int32
    private let lock = NSLock()
    private var seen: [String] = []
    private var accepted: [Int32] = []
    private let answer: @Sendable (String) -> String?

    init(path: String, answer: @escaping @Sendable (String) -> String?) throws {
        self.path = path
        self.answer = answer
        unlink(path)
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = listenFD
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listenFD, 8) == 0 else { throw StoreError(.unavailable, path: path, "fake cannot listen") }
        Thread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                self.lock.withLock { self.accepted.append(c) }
                Thread { self.serve(c) }.start()
            }
        }.start()
    }

    /// Stops accepting and removes the socket file: wazuh-db going away.
    func shutDown() {
        for c in lock.withLock({ accepted }) { shutdown(c, Int32(SHUT_RDWR)) }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        unlink(path)
    }

    var queries: [String] { lock.withLock { seen } }

    private func readExactly(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        while let head = readExactly(fd, 4) {
            let n = Int(head[0]) | Int(head[1]) << 8 | Int(head[2]) << 16 | Int(head[3]) << 24
            guard let body = readExactly(fd, n) else { return }
            let query = String(decoding: body, as: UTF8.self)
            lock.withLock { seen.append(query) }
            guard let reply = answer(query) else { return }
            let bytes = withUnsafeBytes(of: UInt32(reply.utf8.count).littleEndian) { Array($0) } + Array(reply.utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }
}

/// The wazuh-db client and backend against scripted answers: framing, `err`, answers over the 64 KiB
/// ceiling, a socket that disappears and comes back.
@Suite struct StoreWazuhDBClientTests {
    @Test func framingAndStatusWords() throws {
        let dir = TemporaryDirectory()
        let fake = try FakeWazuhDB(path: dir.path + "/wdb") { q in
            q == "global ping" ? "ok pong" : q == "global more" ? "due [1]" : "err Invalid DB query syntax, near 'x'"
        }
        defer { fake.shutDown() }
        let client = WazuhDBClient(path: fake.path, timeout: 5)
        #expect(try client.query("global ping") == .init(status: .ok, payload: "pong"))
        #expect(try client.query("global more") == .init(status: .due, payload: "[1]"))
        #expect(try client.query("global x") == .init(status: .err, payload: "Invalid DB query syntax, near 'x'"))
        let e = StoreTest.storeError { _ = try client.ok("global x") }
        #expect(e?.kind == .wazuhDB && e?.detail == "Invalid DB query syntax, near 'x'")
        #expect(e?.description.hasPrefix("wazuh-db \(fake.path): ") == true)
        // Queries over wazuh-db's limit are refused before anything is sent.
        let long = StoreTest.storeError { _ = try client.query("global sql " + String(repeating: "x", count: 70_000)) }
        #expect(long?.kind == .invalidInput)
        #expect(fake.queries == ["global ping", "global more", "global x", "global x"])
    }

    @Test func aMissingSocketIsUnavailableNamingIt() throws {
        let dir = TemporaryDirectory()
        let client = WazuhDBClient(path: dir.path + "/wdb")
        let e = StoreTest.storeError { _ = try client.query("global ping") }
        #expect(e?.kind == .unavailable)
        #expect(e?.description.contains(dir.path + "/wdb") == true, "\(String(describing: e))")
    }

    /// An answer of 64 KiB or more is the framework's 2009; the reader asks for smaller slices until the
    /// answers fit, and returns every row once, in order.
    @Test func oversizedAnswersAreAskedAgainInSmallerSlices() throws {
        let dir = TemporaryDirectory()
        let fake = try FakeWazuhDB(path: dir.path + "/wdb") { q in
            // 300 rows of 400 bytes each; LIMIT n OFFSET o as the reader writes it.
            let parts = q.split(separator: " ")
            guard let n = parts.firstIndex(of: "LIMIT").flatMap({ Int(parts[$0 + 1]) }),
                  let o = parts.firstIndex(of: "OFFSET").flatMap({ Int(parts[$0 + 1]) }) else { return "err no paging" }
            let rows = (o..<min(300, o + n)).map { #"{"c0":\#($0),"c1":"\#(String(repeating: "a", count: 400))"}"# }
            return "ok [" + rows.joined(separator: ",") + "]"
        }
        defer { fake.shutDown() }
        let reader = WazuhDBReader(client: WazuhDBClient(path: fake.path, timeout: 5))
        var ids: [Int] = []
        try reader.rows("SELECT id AS c0, name AS c1 FROM agent", [], offset: 0, limit: nil) { (row: WazuhDBRow) throws(StoreError) in
            ids.append(row.int(0) ?? -1)
            #expect(row.text(1)?.count == 400)
        }
        #expect(ids == Array(0..<300))
        let limits = fake.queries.compactMap { q -> Int? in
            let parts = q.split(separator: " ")
            return parts.firstIndex(of: "LIMIT").flatMap { Int(parts[$0 + 1]) }
        }
        #expect(limits.prefix(3) == [500, 250, 125], "\(limits)")
        #expect(limits.allSatisfy { $0 <= 500 })
    }

    /// wazuh-db restarts: idle connections to the old process are dropped and the next query reaches the
    /// new one; while it is away, queries fail as unavailable.
    @Test func aRestartedWazuhDBIsReachedAgain() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/wdb"
        let first = try FakeWazuhDB(path: path) { _ in "ok first" }
        let client = WazuhDBClient(path: path, timeout: 5)
        #expect(try client.ok("global ping") == "first")
        first.shutDown()
        #expect(StoreTest.storeError { _ = try client.ok("global ping") }?.kind == .unavailable)
        let second = try FakeWazuhDB(path: path) { _ in "ok second" }
        defer { second.shutDown() }
        #expect(try client.ok("global ping") == "second")
    }

    /// A connection closed without an answer (wazuh-db crashing mid-query) fails that query only.
    @Test func anAnswerLostToACrashFailsThatQueryOnly() throws {
        let dir = TemporaryDirectory()
        let fake = try FakeWazuhDB(path: dir.path + "/wdb") { q in q == "global crash" ? nil : "ok fine" }
        defer { fake.shutDown() }
        let client = WazuhDBClient(path: fake.path, timeout: 5)
        let e = StoreTest.storeError { _ = try client.ok("global crash") }
        #expect(e?.kind == .unavailable && e?.detail.contains("closed the connection") == true, "\(String(describing: e))")
        #expect(try client.ok("global ping") == "fine")
        #expect(fake.queries == ["global crash", "global ping"], "the lost query is not sent again")
    }

    /// The backend's sync commands: 4.8.1's texts, the FOREIGN KEY error counted, other errors thrown
    /// with wazuh-db's words.
    @Test func syncCommandsAsFourEightOneSendsThem() throws {
        let dir = TemporaryDirectory()
        let fake = try FakeWazuhDB(path: dir.path + "/wdb") { q in
            if q.hasPrefix("global sync-agent-info-set [{\"id\":9") { return "err Cannot execute Global database query; FOREIGN KEY constraint failed" }
            if q.hasPrefix("global sync-agent-info-set [{\"id\":8") { return "err Cannot execute Global database query; database is locked" }
            if q.hasPrefix("global sync-agent-groups-get") { return #"ok [{"data":[],"hash":"abc"}]"# }
            return "ok"
        }
        defer { fake.shutDown() }
        let backend = WazuhDBBackend(client: WazuhDBClient(path: fake.path, timeout: 5), nodeName: "worker1")
        let applied = try backend.syncAgentInfoSet(#"[{"id":1}]"#)
        #expect(applied.updated == 1 && applied.foreignKeyErrors == 0)
        let deleted = try backend.syncAgentInfoSet(#"[{"id":9}]"#)
        #expect(deleted.updated == 0 && deleted.foreignKeyErrors == 1)
        let locked = StoreTest.storeError { _ = try backend.syncAgentInfoSet(#"[{"id":8}]"#) }
        #expect(locked?.kind == .wazuhDB && locked?.detail == "Cannot execute Global database query; database is locked")
        _ = try backend.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true)
        _ = try backend.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false, lastID: 0)
        #expect(try backend.globalGroupHash() == "abc")
        try backend.recalculateAgentGroupHashes()
        #expect(fake.queries.suffix(4) == [
            #"global sync-agent-groups-get {"condition": "sync_status", "set_synced": true, "get_global_hash": true}"#,
            #"global sync-agent-groups-get {"condition": "all", "set_synced": false, "get_global_hash": false, "last_id": 0}"#,
            #"global sync-agent-groups-get {"get_global_hash": true}"#,
            "global recalculate-agent-group-hashes",
        ])
        // A master's chunk applied from its parsed data: the same command text 4.8.1's worker sends.
        #expect(try backend.overrideAgentGroups(data: [["id": 6, "groups": ["default", "webservers"]]], syncStatus: "synced") == 1)
        #expect(fake.queries.last == #"global set-agent-groups {"mode":"override","sync_status":"synced","data":[{"id":6,"groups":["default","webservers"]}]}"#)
        let keys = try backend.loadClientKeys([(1, "a", "any", "k")])
        #expect(keys.inserted == 0 && keys.deleted == 0 && !backend.syncsClientKeys, "client.keys is wazuh-modulesd's on a manager")
    }

    /// Values go into the SQL as literals that cannot end their quotes.
    @Test func valuesAreInlinedAsSafeLiterals() {
        #expect(WazuhDBSQL.inline("SELECT 1 WHERE name = ? AND id > ? AND x = '?'", [.text("o'k; DROP TABLE agent"), .int(5)])
                == "SELECT 1 WHERE name = 'o''k; DROP TABLE agent' AND id > 5 AND x = '?'")
        #expect(WazuhDBSQL.inline("? ?", [.null, .double(1.5)]) == "NULL 1.5")
    }
}
