import CSQLite
import Foundation
import Synchronization

/// The node's agent database, `<home>/queue/db/global.db`: what wazuh-db's global database holds for the
/// cluster (LOCAL-DAPI-CONTROL.md §6), with the wazuh-db global commands the cluster daemon sends
/// (`sync-agent-info-get/set`, `sync-agent-groups-get`, `set-agent-groups`, …) as methods that take and
/// return the same JSON texts.
///
/// One SQLite connection behind a mutex: every call runs alone, so the paging state of the sync commands
/// and the cached statements need no further care. Other processes (agent-sim) share the file through
/// SQLite's WAL locking.
public final class AgentStore: Sendable {
    /// The database file.
    public let path: String
    /// This node's name: row 0's `name` and `node_name`.
    public let nodeName: String

    struct State {
        let db: SQLiteConnection
        /// wazuh-db keeps the agent-info paging position between calls (PROTOCOL.md §6.1): the id after
        /// which the next `sync-agent-info-get` continues; back to 0 once a call answers "ok".
        var agentInfoLastID = 0
    }

    private let state: Mutex<State>
    /// Read-only connections for listings (the DAPI's agent pages), so that several run at once beside
    /// the writer: WAL gives each its own consistent snapshot. Opened on demand, kept for reuse.
    private let readers = Mutex<[Reader]>([])
    static let maxIdleReaders = 4

    /// An idle reader. A connection is used by one caller at a time: it leaves the pool while in use.
    private final class Reader: @unchecked Sendable {
        let db: SQLiteConnection
        init(_ db: SQLiteConnection) { self.db = db }
    }

    /// Opens `path`, creating it (and its directory) when missing; an existing file is integrity-checked
    /// and migrated. A file that is not an intact agent database is refused and left untouched.
    public init(path: String, nodeName: String) throws(StoreError) {
        let db = try StoreOpener.open(path: path)
        try Self.ensureManagerRow(db, nodeName: nodeName)
        self.path = path
        self.nodeName = nodeName
        self.state = Mutex(State(db: db))
    }

    /// The store of the node installed at `home`.
    public static func open(home: String, nodeName: String) throws(StoreError) -> AgentStore {
        try AgentStore(path: databasePath(home: home), nodeName: nodeName)
    }

    /// Where a node home keeps the database (wazuh-db's `queue/db/global.db`).
    public static func databasePath(home: String) -> String { home + "/queue/db/global.db" }

    /// Runs `body` with the connection, alone.
    func locked<T: Sendable>(_ body: (inout State) throws(StoreError) -> T) throws(StoreError) -> T {
        try state.withLock { (s: inout sending State) throws(StoreError) -> T in try body(&s) }
    }

    /// Runs `body` on a read-only connection of its own (see `readers`). Only for queries that read.
    /// When no reader can be opened (the file was removed or renamed under the open store), the writer
    /// serves the read, alone.
    func reading<T: Sendable>(_ body: (SQLiteConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        let reader: Reader
        if let idle = readers.withLock({ $0.popLast() }) {
            reader = idle
        } else {
            do {
                let db = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
                sqlite3_busy_timeout(db.handle, StoreOpener.busyTimeoutMilliseconds)
                reader = Reader(db)
            } catch {
                return try locked { (s: inout State) throws(StoreError) -> T in try body(s.db) }
            }
        }
        defer {
            readers.withLock { if $0.count < Self.maxIdleReaders { $0.append(reader) } }
        }
        return try body(reader.db)
    }

    /// The far-future keep-alive wazuh-db gives the manager row so it never looks disconnected.
    static let managerKeepalive = 253_402_300_799

    /// Row 0 is the manager itself (§6): created on first open, renamed when the node name changed.
    private static func ensureManagerRow(_ db: SQLiteConnection, nodeName: String) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            let inserted = try db.run(
                """
                INSERT OR IGNORE INTO agent (id, name, ip, register_ip, date_add, last_keepalive, `group`,
                    connection_status, node_name, group_config_status)
                VALUES (0, ?, '127.0.0.1', '127.0.0.1', ?, ?, NULL, 'active', ?, 'synced')
                """,
                [.text(nodeName), .int(Int64(Date().timeIntervalSince1970)), .int(Int64(managerKeepalive)),
                 .text(nodeName)])
            if inserted == 0 {
                try db.run("UPDATE agent SET name = ?1, node_name = ?1 WHERE id = 0 AND (name IS NOT ?1 OR node_name IS NOT ?1)",
                           [.text(nodeName)])
            }
        }
    }
}

/// Values wazuh-db accepts for the two sync-status columns.
enum SyncStatus {
    static let all: Set<String> = ["synced", "syncreq"]
}

/// Values of `connection_status`.
enum ConnectionStatus {
    static let all: Set<String> = ["pending", "never_connected", "active", "disconnected"]
}
