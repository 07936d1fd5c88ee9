/// The agent database layout and its migrations.
///
/// Two version numbers live in the file. `metadata.db_version` is wazuh-db's layout number (6 in 4.8.1):
/// the tables and columns match that layout so a wazuh-db `global.db` can be opened and our file reads
/// like one. `PRAGMA user_version` is our own schema version, advanced one migration at a time; a file
/// wazuh-db created has user_version 0 with layout 6 already in place, which is our version 1.
enum StoreSchema {
    /// wazuh-db's global layout version the tables follow (LOCAL-DAPI-CONTROL.md §6).
    static let wazuhLayoutVersion = 6
    /// The version a freshly opened store is migrated to.
    static var latestVersion: Int { migrations.count }

    /// `migrations[k]` takes a database from version k to k + 1, inside one transaction.
    static let migrations: [String] = [layout6, syncIndexes]

    /// Version 1: the wazuh-db global layout, db_version 6.
    static let layout6 = """
        CREATE TABLE agent (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            ip TEXT,
            register_ip TEXT,
            internal_key TEXT,
            os_name TEXT,
            os_version TEXT,
            os_major TEXT,
            os_minor TEXT,
            os_codename TEXT,
            os_build TEXT,
            os_platform TEXT,
            os_uname TEXT,
            os_arch TEXT,
            version TEXT,
            config_sum TEXT,
            merged_sum TEXT,
            manager_host TEXT,
            node_name TEXT DEFAULT 'unknown',
            date_add INTEGER NOT NULL,
            last_keepalive INTEGER,
            `group` TEXT DEFAULT 'default',
            group_hash TEXT DEFAULT NULL,
            group_sync_status TEXT NOT NULL CHECK (group_sync_status IN ('synced', 'syncreq')) DEFAULT 'synced',
            sync_status TEXT NOT NULL CHECK (sync_status IN ('synced', 'syncreq')) DEFAULT 'synced',
            connection_status TEXT NOT NULL
                CHECK (connection_status IN ('pending', 'never_connected', 'active', 'disconnected'))
                DEFAULT 'never_connected',
            disconnection_time INTEGER DEFAULT 0,
            group_config_status TEXT NOT NULL CHECK (group_config_status IN ('synced', 'not synced'))
                DEFAULT 'not synced',
            status_code INTEGER DEFAULT 0
        );
        CREATE INDEX agent_name ON agent (name);
        CREATE INDEX agent_ip ON agent (ip);
        CREATE INDEX agent_group_hash ON agent (group_hash);
        CREATE TABLE labels (
            id INTEGER,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (id, key),
            FOREIGN KEY (id) REFERENCES agent (id) ON DELETE CASCADE
        );
        CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE `group` (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, UNIQUE (name));
        CREATE TABLE belongs (
            id_agent INTEGER,
            id_group INTEGER,
            priority INTEGER NOT NULL DEFAULT 0,
            UNIQUE (id_agent, priority),
            PRIMARY KEY (id_agent, id_group),
            FOREIGN KEY (id_agent) REFERENCES agent (id) ON DELETE CASCADE,
            FOREIGN KEY (id_group) REFERENCES `group` (id) ON DELETE CASCADE
        );
        CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO metadata (key, value) VALUES ('db_version', '6');
        """

    /// Version 2: partial indexes so the 10-second sync loops find the few `syncreq` rows among tens of
    /// thousands without scanning the table, and an index to find a group's members.
    static let syncIndexes = """
        CREATE INDEX IF NOT EXISTS agent_syncreq ON agent (id) WHERE sync_status = 'syncreq';
        CREATE INDEX IF NOT EXISTS agent_group_syncreq ON agent (id) WHERE group_sync_status = 'syncreq';
        CREATE INDEX IF NOT EXISTS belongs_group ON belongs (id_group);
        """
}
