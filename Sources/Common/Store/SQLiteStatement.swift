import CSQLite

/// SQLite's "copy the bound text now" destructor; the C macro is not importable into Swift.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement. Owned by its connection's cache; `reset` makes it reusable.
final class SQLiteStatement {
    let raw: OpaquePointer
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

    // Single-parameter binds for the hot loops (agent-info set), where an [SQLValue] per row would cost
    // more than the statement. Indexes are 1-based as in SQLite.

    func bindNull(_ index: Int32) { sqlite3_bind_null(raw, index) }

    func bind(_ index: Int32, int: Int64) { sqlite3_bind_int64(raw, index, int) }

    func bind(_ index: Int32, double: Double) { sqlite3_bind_double(raw, index, double) }

    /// Binds `text` as `bind(_:)` does: through its C string, so text after an embedded NUL is not stored.
    func bind(_ index: Int32, text: String) throws(StoreError) {
        let rc = sqlite3_bind_text(raw, index, text, -1, transient)
        guard rc == SQLITE_OK else { throw connection.error("binding parameter \(index)", code: rc) }
    }

    /// Binds UTF-8 bytes without copying them: the memory must stay valid until the statement is reset
    /// and its bindings cleared (`reset()` does both).
    func bind(_ index: Int32, borrowing bytes: UnsafeBufferPointer<UInt8>) throws(StoreError) {
        // A NULL pointer would bind NULL, not an empty text.
        guard let base = bytes.baseAddress else { return try bind(index, text: "") }
        let rc = sqlite3_bind_text(raw, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                   Int32(bytes.count), nil)
        guard rc == SQLITE_OK else { throw connection.error("binding parameter \(index)", code: rc) }
    }

    /// Steps a statement that returns no rows and answers the number of rows it changed.
    func run() throws(StoreError) -> Int {
        while try step() {}
        return Int(sqlite3_changes(sqlite3_db_handle(raw)))
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

    /// The column as a 64-bit integer (0 for NULL), for columns known to hold one.
    func int64(_ i: Int) -> Int64 { sqlite3_column_int64(raw, Int32(i)) }

    /// Appends the column as the JSON text `json(i)` would encode to in wazuh-db's compact, UTF-8 style,
    /// straight from SQLite's buffer; false (and nothing appended) when `json(i)` is nil. agent-info reads
    /// 22 columns of thousands of rows, where a JSONValue per column cost more than the query.
    func appendJSON(_ i: Int, into out: inout [UInt8]) -> Bool {
        let column = Int32(i)
        switch sqlite3_column_type(raw, column) {
        case SQLITE_INTEGER:
            PythonJSONEncoder.writeInt(sqlite3_column_int64(raw, column), into: &out)
        case SQLITE_FLOAT:
            out.append(contentsOf: PythonJSONEncoder.pythonFloat(sqlite3_column_double(raw, column)).utf8)
        case SQLITE_TEXT, SQLITE_BLOB:
            guard let p = sqlite3_column_text(raw, column) else { return false }
            let bytes = UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(raw, column)))
            let start = out.count
            PythonJSONEncoder.writeString(utf8: bytes, ensureASCII: false, into: &out)
            // text(i) decodes through String, which replaces invalid UTF-8; the bytes can only differ when
            // some are non-ASCII, so only then is the text decoded and written again.
            if bytes.contains(where: { $0 >= 0x80 }) {
                var decoded = String(decoding: bytes, as: UTF8.self)
                out.removeSubrange(start...)
                decoded.withUTF8 { PythonJSONEncoder.writeString(utf8: $0, ensureASCII: false, into: &out) }
            }
        default:
            return false
        }
        return true
    }

    /// Appends a text column as a `json.dumps` string (ASCII, `\uXXXX` escapes) straight from SQLite's
    /// buffer, as `.string(text(i))` would encode; invalid UTF-8 is replaced as `text(i)` replaces it.
    func appendJSONString(_ i: Int, into out: inout [UInt8]) {
        guard let p = sqlite3_column_text(raw, Int32(i)) else { out.append(contentsOf: "\"\"".utf8); return }
        let bytes = UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(raw, Int32(i))))
        if bytes.contains(where: { $0 >= 0x80 }) {
            var decoded = String(decoding: bytes, as: UTF8.self)
            decoded.withUTF8 { PythonJSONEncoder.writeString(utf8: $0, ensureASCII: true, into: &out) }
        } else {
            PythonJSONEncoder.writeString(utf8: bytes, ensureASCII: true, into: &out)
        }
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
