import Common
import CSQLite
import Foundation

// The agent store at scale: 50,000 agents through the master's group-sync path (client.keys load,
// set-agent-groups, the 10-second sync_status query, a full resync paged on last_id, the global hash, a
// recalculation, a reopen), each step next to plain SQLite doing the same rows' reads or writes in the
// same schema (prepared statements, one transaction), measured in the same run. One core.
//
// Each side runs `RUNS` times on fresh databases and its best time per step is printed, so that neither
// pays the warm-up alone.
//
// usage: store-bench [AGENTS [RUNS]]   (default 50000 3)

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("store-bench: \(message)\n".utf8))
    exit(1)
}

func timed<T>(_ body: () throws -> T) -> (T, Double) {
    let start = now()
    do {
        let result = try body()
        return (result, now() - start)
    } catch {
        fail("\(error)")
    }
}

let arguments = CommandLine.arguments.dropFirst().map { Int($0) ?? 0 }
let count = arguments.first ?? 50_000
let runs = arguments.dropFirst().first ?? 3
guard count > 0, runs > 0, arguments.count <= 2 else { fail("usage: store-bench [AGENTS [RUNS]]") }

var template = Array("/tmp/clusterd-store-bench.XXXXXX".utf8CString)
let dir = template.withUnsafeMutableBufferPointer { buffer -> String in
    guard let made = mkdtemp(buffer.baseAddress!) else { fail("mkdtemp: \(String(cString: strerror(errno)))") }
    return String(cString: made)
}
defer { try? FileManager.default.removeItem(atPath: dir) }

// The rows: every agent in "default", one in four in a second group too.
func groups(_ id: Int) -> [String] { id % 4 == 0 ? ["default", "g\(id % 10)"] : ["default"] }
let entries = (1...count).map { (id: $0, name: "agent-\($0)", ip: "any", key: String(repeating: "a", count: 64)) }
let groupsCommand = "{\"mode\":\"override\",\"sync_status\":\"syncreq\",\"data\":["
    + (1...count).map { id in "{\"id\":\(id),\"groups\":[\(groups(id).map { "\"\($0)\"" }.joined(separator: ","))]}" }
        .joined(separator: ",") + "]}"

// MARK: reference: plain SQLite on a database of the same schema (made by AgentStore, then closed)

final class PlainSQLite {
    let db: OpaquePointer
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ path: String) {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let handle else { fail("open \(path)") }
        db = handle
        exec("PRAGMA synchronous = NORMAL")  // as AgentStore runs (its WAL mode is in the file)
    }

    deinit { sqlite3_close(db) }

    func exec(_ sql: String) {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { fail("\(sql): \(String(cString: sqlite3_errmsg(db)))") }
    }

    /// Runs `sql` once per element of `rows`, binding what `bind` gives (Int64 or String), in one transaction.
    func run<S: Sequence>(_ sql: String, _ rows: S, _ bind: (S.Element) -> [Any]) {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { fail("prepare \(sql)") }
        defer { sqlite3_finalize(stmt) }
        exec("BEGIN")
        for row in rows {
            for (i, value) in bind(row).enumerated() {
                switch value {
                case let v as Int64: sqlite3_bind_int64(stmt, Int32(i + 1), v)
                case let v as Int: sqlite3_bind_int64(stmt, Int32(i + 1), Int64(v))
                case let v as String: sqlite3_bind_text(stmt, Int32(i + 1), v, -1, Self.transient)
                default: sqlite3_bind_null(stmt, Int32(i + 1))
                }
            }
            guard sqlite3_step(stmt) == SQLITE_DONE else { fail("\(sql): \(String(cString: sqlite3_errmsg(db)))") }
            sqlite3_reset(stmt)
        }
        exec("COMMIT")
    }

    /// Steps through every row of `sql`, reading each column as text; returns the row count.
    func read(_ sql: String) -> Int {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { fail("prepare \(sql)") }
        defer { sqlite3_finalize(stmt) }
        var rows = 0
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows += 1
            for c in 0..<sqlite3_column_count(stmt) {
                if let text = sqlite3_column_text(stmt, c) { sink &+= Int(text.pointee) }
            }
        }
        return rows
    }

    /// The (text, integer) rows of `sql` as a dictionary.
    func ids(_ sql: String) -> [String: Int] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { fail("prepare \(sql)") }
        defer { sqlite3_finalize(stmt) }
        var out: [String: Int] = [:]
        while sqlite3_step(stmt) == SQLITE_ROW {
            out[String(cString: sqlite3_column_text(stmt, 0))] = Int(sqlite3_column_int64(stmt, 1))
        }
        return out
    }
}

/// Read results folded in here, so that the reads cannot be optimised away.
nonisolated(unsafe) var sink = 0

enum Step: String, CaseIterable {
    case load = "load client.keys"
    case groups = "set-agent-groups (override)"
    case syncStatus = "sync-agent-groups-get sync_status"
    case all = "sync-agent-groups-get all"
    case hash = "global hash"
    case recalculate = "recalculate-agent-group-hashes"
    case reopen = "reopen (quick_check and migration)"

    /// What plain SQLite does for the step.
    var reference: String {
        switch self {
        case .load: return "insert of the rows"
        case .groups: return "insert/update of the rows"
        case .syncStatus: return "read + status update"
        case .all, .recalculate: return "read of the join"
        case .hash: return "read of the hashes"
        case .reopen: return "open + quick_check"
        }
    }
}

let joinSQL = """
    SELECT a.id, g.name FROM agent a LEFT JOIN belongs b ON b.id_agent = a.id LEFT JOIN `group` g ON g.id = b.id_group
    WHERE a.id > 0 ORDER BY a.id, b.priority
    """

/// The steps done with plain SQLite on a fresh database of the store's schema.
func referenceRun(_ path: String) -> [Step: Double] {
    do { _ = try AgentStore(path: path, nodeName: "master-node") } catch { fail("\(error)") }
    let plain = PlainSQLite(path)
    let stamp = Int64(Date().timeIntervalSince1970)
    var times: [Step: Double] = [:]
    (_, times[.load]) = timed {
        plain.run("INSERT INTO agent (id, name, register_ip, internal_key, date_add, `group`) VALUES (?, ?, ?, ?, ?, NULL)",
                  entries) { [$0.id, $0.name, $0.ip, $0.key, stamp] }
    }
    (_, times[.groups]) = timed {
        plain.run("INSERT OR IGNORE INTO `group` (name) VALUES (?)", ["default"] + (0..<10).map { "g\($0)" }) { [$0] }
        let groupID = plain.ids("SELECT name, id FROM `group`")
        let belongs = (1...count).flatMap { id in groups(id).enumerated().map { (id, groupID[$0.element]!, $0.offset) } }
        plain.run("INSERT INTO belongs (id_agent, id_group, priority) VALUES (?, ?, ?)", belongs) { [$0.0, $0.1, $0.2] }
        plain.run("UPDATE agent SET `group` = ?, group_hash = ?, group_sync_status = 'syncreq' WHERE id = ?", 1...count) { id in
            let csv = groups(id).joined(separator: ",")
            return [csv, GroupHash.agentHash(csv: csv), id]
        }
    }
    (_, times[.syncStatus]) = timed {
        guard plain.read(joinSQL) == count + count / 4 else { fail("reference join read the wrong row count") }
        plain.run("UPDATE agent SET group_sync_status = 'synced' WHERE id = ?", 1...count) { [$0] }
    }
    (_, times[.all]) = timed { plain.read(joinSQL) }
    (_, times[.hash]) = timed { plain.read("SELECT group_hash FROM agent WHERE id > 0 ORDER BY id") }
    times[.recalculate] = times[.all]
    (_, times[.reopen]) = timed { PlainSQLite(path).read("PRAGMA quick_check") }
    return times
}

/// The steps done by `AgentStore` on a fresh store, checking what each returns.
func storeRun(_ path: String) -> (times: [Step: Double], rounds: Int, chunks: Int) {
    let store: AgentStore
    do { store = try AgentStore(path: path, nodeName: "master-node") } catch { fail("\(error)") }
    var times: [Step: Double] = [:]
    let loaded: (inserted: Int, deleted: Int)
    (loaded, times[.load]) = timed { try store.loadClientKeys(entries) }
    guard loaded == (inserted: count, deleted: 0) else { fail("client.keys load: \(loaded)") }
    let updated: Int
    (updated, times[.groups]) = timed { try store.setAgentGroups(groupsCommand) }
    guard updated == count else { fail("set-agent-groups updated \(updated)") }

    // The master's 10-second query: every agent pending once, paged by the 6 MiB response limit.
    var listed = 0
    var rounds = 0
    (_, times[.syncStatus]) = timed {
        var status = "due"
        while status == "due" {
            let r = try store.syncAgentGroupsGet(condition: .syncStatus, setSynced: true, getGlobalHash: true)
            status = r.status
            listed += try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue?.count ?? 0
            rounds += 1
        }
    }
    guard listed == count else { fail("sync_status listed \(listed)") }

    // The full resync, paged on last_id in 512 KiB chunks.
    var ids = 0
    var lastID = 0
    var chunks = 0
    (_, times[.all]) = timed {
        var status = "due"
        while status == "due" {
            let r = try store.syncAgentGroupsGet(condition: .all, setSynced: false, getGlobalHash: false, lastID: lastID,
                                                 maxResponseBytes: 512 * 1024)
            status = r.status
            chunks += 1
            let data = try JSONParser.parse(r.payload).arrayValue?.first?["data"]?.arrayValue ?? []
            ids += data.count
            lastID = Int(data.last?["id"]?.intValue ?? Int64(lastID))
        }
    }
    guard ids == count, lastID == count else { fail("full resync listed \(ids) agents up to \(lastID)") }

    let hash: String?
    (hash, times[.hash]) = timed { try store.globalGroupHash() }
    (_, times[.recalculate]) = timed { try store.recalculateAgentGroupHashes() }
    let (after, _) = timed { try store.globalGroupHash() }
    guard hash != nil, hash == after else { fail("global hash \(hash ?? "nil") then \(after ?? "nil")") }
    let reopened: AgentStore
    (reopened, times[.reopen]) = timed { try AgentStore(path: path, nodeName: "master-node") }
    let (never, _) = timed { try reopened.agents(statuses: ["never_connected"]).count }
    guard never == count else { fail("reopened store lists \(never) agents") }
    return (times, rounds, chunks)
}

// MARK: runs and report

var best: [Step: Double] = [:]
var bestReference: [Step: Double] = [:]
var rounds = 0
var chunks = 0
for run in 1...runs {
    for (step, seconds) in referenceRun(dir + "/reference-\(run)/global.db") {
        bestReference[step] = min(bestReference[step] ?? .infinity, seconds)
    }
    let result = storeRun(dir + "/store-\(run)/global.db")
    for (step, seconds) in result.times { best[step] = min(best[step] ?? .infinity, seconds) }
    (rounds, chunks) = (result.rounds, result.chunks)
}

print("agent store: \(count) agents (\(count / 4) in two groups), one core, best of \(runs) run(s); references: plain SQLite,"
      + " same schema, same run")
for step in Step.allCases {
    let name = step == .syncStatus ? "\(step.rawValue) (\(rounds) round(s))"
        : step == .all ? "\(step.rawValue) (\(chunks) chunk(s))" : step.rawValue
    let seconds = best[step]!, reference = bestReference[step]!
    print(name.padding(toLength: 50, withPad: " ", startingAt: 0) + String(format: "%8.3f s   ", seconds)
          + step.reference.padding(toLength: 26, withPad: " ", startingAt: 0)
          + String(format: "%8.3f s   this/reference = %.1fx", reference, seconds / reference))
}
if sink == 42 { print("") }
