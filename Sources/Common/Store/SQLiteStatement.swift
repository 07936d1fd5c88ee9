import CSQLite

/// SQLite's "copy the bound text now" destructor; the C macro is not importable into Swift.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement. Owned by its connection's cache; `reset` makes it reusable.
final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(_ raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    deinit { sqlite3_finalize(raw) }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    /// Binds `values` to parameters 1…n.
    func bind(_ values: [SQLValue]) throws(StoreError) {
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(raw, index)
            case .int(let n): rc = sqlite3_bind_int64(raw, index, n)
            case .double(let d): rc = sqlite3_bind_double(raw, index, d)
            case .text(let s): rc = sqlite3_bind_text(raw, index, s, -1, transient)
            }
            guard rc == SQLITE_OK else { throw connection.error("binding parameter \(index)", code: rc) }
        }
    }

    /// Advances to the next row: true when there is one, false when the statement is done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let sql = sqlite3_sql(raw).map { String(cString: $0) } ?? "?"
            sqlite3_reset(raw)
            throw connection.error("running \(sql.prefix(60))", code: rc)
        }
    }

    var columnCount: Int { Int(sqlite3_column_count(raw)) }

    func columnName(_ i: Int) -> String { String(cString: sqlite3_column_name(raw, Int32(i))) }

    func isNull(_ i: Int) -> Bool { sqlite3_column_type(raw, Int32(i)) == SQLITE_NULL }

    func int(_ i: Int) -> Int? { isNull(i) ? nil : Int(sqlite3_column_int64(raw, Int32(i))) }

    func text(_ i: Int) -> String? {
        guard !isNull(i), let p = sqlite3_column_text(raw, Int32(i)) else { return nil }
        let n = Int(sqlite3_column_bytes(raw, Int32(i)))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// The column as the JSON value wazuh-db would print for it: by storage class, NULL as nil.
    func json(_ i: Int) -> JSONValue? {
        switch sqlite3_column_type(raw, Int32(i)) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(raw, Int32(i)))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(raw, Int32(i)))
        case SQLITE_TEXT, SQLITE_BLOB: return text(i).map { .string($0) }
        default: return nil
        }
    }
}
