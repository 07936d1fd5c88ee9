import CSQLite
import Foundation

/// Opening the agent database without ever damaging what is on disk.
///
/// An existing file is first checked through a read-only connection (`PRAGMA quick_check`), so garbage,
/// a truncated file or a directory is reported before anything could write to it. A missing file is built
/// under a temporary name and linked into place only when complete, so a crash mid-creation never leaves
/// a half-made `global.db` that a later start would have to guess about (which is also why an empty file
/// at the path is refused instead of initialised).
enum StoreOpener {
    /// Seconds a statement waits for another connection's lock (the daemon and agent-sim share the file).
    static let busyTimeoutMilliseconds: Int32 = 10_000

    /// A configured read-write connection to `path`, created when missing, validated and migrated.
    static func open(path: String) throws(StoreError) -> SQLiteConnection {
        if !FileManager.default.fileExists(atPath: path) { try create(path: path) }
        try validate(path: path)
        let db = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE)
        try configure(db)
        try migrate(db)
        return db
    }

    /// Builds a fresh database next to `path` and links it into place.
    private static func create(path: String) throws(StoreError) {
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, path: path, "cannot create directory \(dir): \(error.localizedDescription)")
        }
        let temporary = "\(path).creating-\(getpid())"
        removeDatabaseFiles(temporary)
        defer { removeDatabaseFiles(temporary) }
        do {
            let db = try SQLiteConnection(path: temporary, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            try configure(db)
            try migrate(db)
        }  // the connection closes here, checkpointing and removing its WAL before the link
        // link(2) rather than rename(2): if another process created the file meanwhile, keep theirs.
        if link(temporary, path) != 0 && errno != EEXIST {
            let reason = String(cString: strerror(errno))
            throw StoreError(.cannotOpen, path: path, "cannot link the new database into place: \(reason)")
        }
    }

    private static func removeDatabaseFiles(_ p: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(p + suffix) }
    }

    /// Refuses anything that is not an intact SQLite database, reading only.
    static func validate(path: String) throws(StoreError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError(.cannotOpen, path: path, "the file does not exist")
        }
        if isDirectory.boolValue {
            throw StoreError(.cannotOpen, path: path, "is a directory, not a database file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
        if size == 0 {
            throw StoreError(.notADatabase, path: path,
                             "the file is empty (0 bytes): truncated or never written; not initialising it")
        }
        let db = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
        sqlite3_busy_timeout(db.handle, busyTimeoutMilliseconds)
        let check = try db.statement("PRAGMA quick_check(5)")
        var problems: [String] = []
        while try check.step() {
            if let line = check.text(0), line != "ok" { problems.append(line) }
        }
        check.reset()
        if !problems.isEmpty {
            throw StoreError(.corrupt, path: path, "integrity check failed: \(problems.joined(separator: "; "))")
        }
        _ = try inspect(db)
    }

    /// Per-connection settings. WAL lets readers (agent-sim, cluster_control) run beside the daemon's writes.
    private static func configure(_ db: SQLiteConnection) throws(StoreError) {
        sqlite3_busy_timeout(db.handle, busyTimeoutMilliseconds)
        let mode = try db.text("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw StoreError(.sqlite, path: db.path, "cannot switch to WAL journal mode (still \(mode ?? "unknown"))")
        }
        try db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
    }

    /// Brings the schema to `StoreSchema.latestVersion`, refusing versions this build does not know.
    static func migrate(_ db: SQLiteConnection) throws(StoreError) {
        try db.transaction { () throws(StoreError) in
            var version = try inspect(db)
            while version < StoreSchema.latestVersion {
                try db.exec(StoreSchema.migrations[version])
                version += 1
                try db.exec("PRAGMA user_version = \(version)")
            }
            try checkLayout(db)
        }
    }

    /// The schema version of the file, refusing one this build cannot work with. Runs on the read-only
    /// connection too, so a foreign or newer file is refused before anything could write to it.
    private static func inspect(_ db: SQLiteConnection) throws(StoreError) -> Int {
        let version = try currentVersion(db)
        guard version <= StoreSchema.latestVersion else {
            throw StoreError(.newerSchema, path: db.path,
                             "schema version \(version) is newer than this build's \(StoreSchema.latestVersion); "
                                 + "open it with the clusterd that wrote it")
        }
        if version > 0 { try checkLayout(db) }
        return version
    }

    /// Our version of the open file. A wazuh-db-made file (user_version 0 with its tables) counts as 1.
    private static func currentVersion(_ db: SQLiteConnection) throws(StoreError) -> Int {
        let version = try db.ints("PRAGMA user_version").first ?? 0
        if version != 0 { return version }
        let tables = try db.ints("SELECT count(*) FROM sqlite_master WHERE type = 'table'").first ?? 0
        if tables == 0 { return 0 }
        guard try db.text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'agent'") != nil else {
            throw StoreError(.unknownSchema, path: db.path,
                             "holds \(tables) tables but no 'agent' table: not a wazuh-db global database")
        }
        return 1
    }

    /// The wazuh-db layout number must be the one the tables were written for.
    private static func checkLayout(_ db: SQLiteConnection) throws(StoreError) {
        let text = try db.text("SELECT value FROM metadata WHERE key = 'db_version'")
        guard let text, let layout = Int(text) else {
            throw StoreError(.unknownSchema, path: db.path, "metadata has no numeric db_version (found \(text ?? "none"))")
        }
        if layout > StoreSchema.wazuhLayoutVersion {
            throw StoreError(.newerSchema, path: db.path,
                             "wazuh-db layout db_version \(layout) is newer than the supported \(StoreSchema.wazuhLayoutVersion)")
        }
        if layout < StoreSchema.wazuhLayoutVersion {
            throw StoreError(.unknownSchema, path: db.path,
                             "wazuh-db layout db_version \(layout) predates \(StoreSchema.wazuhLayoutVersion); "
                                 + "let wazuh-db 4.8 upgrade it first")
        }
    }
}
