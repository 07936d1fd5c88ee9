/// Why an `AgentStore` operation failed. Every error names the database file, and SQLite failures carry
/// SQLite's own message and result code, so a log line alone tells an operator what to look at.
public struct StoreError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be opened or created (permissions, a directory in the way, missing parent).
        case cannotOpen
        /// The file exists but is not an SQLite database (garbage, an empty file, a foreign format).
        case notADatabase
        /// SQLite opened the file but `PRAGMA quick_check` or a read found damage (truncation, torn pages).
        case corrupt
        /// The schema was written by a newer clusterd or a newer wazuh-db layout; opening it could lose data.
        case newerSchema
        /// The database holds tables that do not look like a wazuh-db global database.
        case unknownSchema
        /// A statement failed at run time (busy beyond the timeout, disk full, a constraint).
        case sqlite
        /// A command's JSON or argument was malformed; the detail names the offending field.
        case invalidInput
        /// The agent an operation targets does not exist.
        case notFound
        /// The operation would overwrite something that already exists (an agent id taken).
        case conflict
        /// wazuh-db's socket is missing, refused the connection, or the connection broke (wazuh-db restarting).
        case unavailable
        /// wazuh-db answered `err`; the detail is its text.
        case wazuhDB
        /// wazuh-db's answer was over the client's limit (the framework's error 2009).
        case responseTooLarge
    }

    public let kind: Kind
    /// The database file this store works on.
    public let path: String
    /// What was wrong, in words; for SQLite failures it ends with SQLite's message.
    public let detail: String
    /// SQLite's extended result code when SQLite reported the failure.
    public let sqliteCode: Int32?

    public init(_ kind: Kind, path: String, _ detail: String, sqliteCode: Int32? = nil) {
        self.kind = kind
        self.path = path
        self.detail = detail
        self.sqliteCode = sqliteCode
    }

    public var description: String {
        let code = sqliteCode.map { " (SQLite code \($0))" } ?? ""
        switch kind {
        case .unavailable, .wazuhDB, .responseTooLarge: return "wazuh-db \(path): \(detail)"
        default: return "agent database \(path): \(detail)\(code)"
        }
    }
}
