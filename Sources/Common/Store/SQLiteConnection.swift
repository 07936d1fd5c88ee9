import CSQLite

/// A value bound to or read from an SQLite statement.
enum SQLValue: Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    init(_ s: String?) { self = s.map { .text($0) } ?? .null }
    init(_ i: Int?) { self = i.map { .int(Int64($0)) } ?? .null }
}

/// One SQLite connection. Not thread-safe by itself: `AgentStore` owns it behind its lock, and SQLite is
/// opened with `SQLITE_OPEN_NOMUTEX` because that lock already serialises every call.
final class SQLiteConnection {
    let path: String
    let handle: OpaquePointer
    /// Prepared statements by SQL text: the store runs a fixed set of statements many thousand times.
    private var cache: [String: SQLiteStatement] = [:]

    /// Open flags for a file that may be created.
    static let readWriteCreate = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE

    /// Opens `path` with `flags` (`SQLITE_OPEN_*`). Failure is `.cannotOpen` with SQLite's message.
    init(path: String, flags: Int32) throws(StoreError) {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw StoreError(.cannotOpen, path: path, "cannot open: \(message)", sqliteCode: rc)
        }
        sqlite3_extended_result_codes(db, 1)
        self.path = path
        self.handle = db
    }

    deinit {
        cache.removeAll()  // finalize statements before the connection goes
        sqlite3_close_v2(handle)
    }

    /// The error for the last failure on this connection, classified so callers can tell damage from misuse.
    func error(_ context: String, code: Int32) -> StoreError {
        let message = String(cString: sqlite3_errmsg(handle))
        let kind: StoreError.Kind
        switch code & 0xFF {
        case SQLITE_NOTADB: kind = .notADatabase
        case SQLITE_CORRUPT: kind = .corrupt
        case SQLITE_CANTOPEN: kind = .cannotOpen
        default: kind = .sqlite
        }
        return StoreError(kind, path: path, "\(context): \(message)", sqliteCode: code)
    }

    /// Runs one or more statements without parameters (schema text, pragmas).
    func exec(_ sql: String) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error("executing \(sql.prefix(60))", code: rc) }
    }

    /// A cached prepared statement for `sql`, reset and with its bindings cleared.
    func statement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error("preparing \(sql.prefix(60))", code: rc) }
        let s = SQLiteStatement(raw, connection: self)
        cache[sql] = s
        return s
    }

    /// Prepares, binds and steps `sql` to completion, returning the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int {
        let s = try statement(sql)
        try s.bind(values)
        while try s.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// The first column of every row of `sql`, as integers.
    func ints(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> [Int] {
        let s = try statement(sql)
        try s.bind(values)
        var out: [Int] = []
        while try s.step() { out.append(s.int(0) ?? 0) }
        return out
    }

    /// The first column of the first row of `sql` as text, nil when there is no row or it is NULL.
    func text(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> String? {
        let s = try statement(sql)
        try s.bind(values)
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back when it throws. IMMEDIATE takes the write
    /// lock up front, so a concurrent writer (another process on the same file) waits in the busy handler
    /// instead of failing half-way through with SQLITE_BUSY on lock upgrade.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// `transaction` for a body that may give up: nil rolls back (and is returned) instead of committing.
    func transaction<T>(rollingBackNil body: () throws(StoreError) -> T?) throws(StoreError) -> T? {
        try exec("BEGIN IMMEDIATE")
        do {
            guard let result = try body() else {
                try exec("ROLLBACK")
                return nil
            }
            try exec("COMMIT")
            return result
        } catch {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Runs `body` with SQLite's automatic checkpoint off, so its commits leave the write-ahead log to a
    /// later `checkpoint()` (by default a commit past 1000 log pages copies them into the database file,
    /// which for thousands of agents is a fifth of an agent-info call).
    func deferringCheckpoint<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        sqlite3_wal_autocheckpoint(handle, 0)
        defer { sqlite3_wal_autocheckpoint(handle, Self.autoCheckpointPages) }
        return try body()
    }

    /// SQLite's default, which the store keeps outside `deferringCheckpoint`.
    static let autoCheckpointPages: Int32 = 1000

    /// Copies what the write-ahead log holds into the database file, as far as readers allow (PASSIVE:
    /// never waits for them).
    func checkpoint() throws(StoreError) {
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        guard rc == SQLITE_OK else { throw error("checkpointing the write-ahead log", code: rc) }
    }
}
