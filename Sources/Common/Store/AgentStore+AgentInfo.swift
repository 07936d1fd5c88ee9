/// Agent-info sync (PROTOCOL.md §6): a worker reads the rows its agents changed with
/// `sync-agent-info-get`, the master writes them with `sync-agent-info-set`.
///
/// Both run for every agent of a worker every 10 seconds, so both work on bytes: the get writes SQLite's
/// column buffers straight into the response, and the set (AgentInfoChunkApplier) binds the chunk's bytes
/// straight into a prepared UPDATE. AgentStore+AgentInfoReference.swift has the same commands over
/// JSONValue, which the tests hold these to.
extension AgentStore {
    /// The columns of an agent-info row, in the key order wazuh-db prints them.
    static let agentInfoColumns = [
        "id", "name", "ip", "os_name", "os_version", "os_major", "os_minor", "os_codename", "os_build",
        "os_platform", "os_uname", "os_arch", "version", "config_sum", "merged_sum", "manager_host", "node_name",
        "last_keepalive", "connection_status", "disconnection_time", "group_config_status", "status_code",
    ]
    /// Columns that are NOT NULL in the table: a row that omits them keeps the stored value.
    static let agentInfoRequired: Set<String> = ["name", "connection_status", "group_config_status"]

    /// wazuh-db's encoder: compact, UTF-8 left as is (cJSON does not escape non-ASCII).
    static let wdbJSON = PythonJSONEncoder(compact: true, ensureASCII: false)

    /// The `syncreq` agents after an id, in id order, each with its labels (a row per label, ordered by key;
    /// one row with NULL label columns when it has none). SQLite walks the partial `agent_syncreq` index and
    /// looks the labels up by their primary key, so there is no sort and no query per agent.
    static let agentInfoSelect = "SELECT " + agentInfoColumns.map { "a.\($0)" }.joined(separator: ", ")
        + ", l.id, l.key, l.value FROM agent a LEFT JOIN labels l ON l.id = a.id"
        + " WHERE a.sync_status = 'syncreq' AND a.id > ? ORDER BY a.id, l.key"

    /// One UPDATE for a whole page: within the transaction that read it, the `syncreq` rows in the page's id
    /// range are exactly the rows returned.
    static let agentInfoMarkSynced =
        "UPDATE agent SET sync_status = 'synced' WHERE sync_status = 'syncreq' AND id > ? AND id <= ?"

    /// Parameters 1…21 are the columns after `id` in `agentInfoColumns` order, 22 is the id.
    static let agentInfoUpdate: String = {
        let assignments = agentInfoColumns.dropFirst().map { c in
            agentInfoRequired.contains(c) ? "\(c) = COALESCE(?, \(c))" : "\(c) = ?"
        }
        return "UPDATE agent SET \(assignments.joined(separator: ", ")), sync_status = 'synced' WHERE id = ?"
    }()
    static let agentInfoDeleteLabels = "DELETE FROM labels WHERE id = ?"
    static let agentInfoInsertLabel = "INSERT OR REPLACE INTO labels (id, key, value) VALUES (?, ?, ?)"

    /// `global sync-agent-info-get`: the agents (id > 0) with `sync_status = 'syncreq'` as a compact JSON
    /// array, NULL columns omitted, `labels` added when the agent has any. Returned rows become `synced`.
    /// The status is "due" when the next agent would push the response (with its status word) past
    /// `maxResponseBytes`; the next call continues after the last id returned, and an "ok" call restarts
    /// from the beginning. An agent too large for the limit on its own is still returned, alone, so the
    /// loop always progresses. Reading and marking share one write transaction, so a row another process
    /// marks `syncreq` meanwhile is neither lost nor marked `synced` unsent.
    public func syncAgentInfoGet(maxResponseBytes: Int = 6_291_456) throws(StoreError) -> (status: String, payload: String) {
        var page = (status: "ok", payload: "[]")
        try syncAgentInfoGet(maxResponseBytes: maxResponseBytes) { page = ($0, $1) }
        return page
    }

    /// `syncAgentInfoGet` for a caller that forwards the page: `deliver` gets its status and payload as soon
    /// as it is read, while the rows are still being marked `synced` (a third of the call for thousands of
    /// agents), so the worker sends the last page meanwhile. A failure after `deliver` still throws, and the
    /// rows stay `syncreq`: they go again next round, which only writes the same values twice. `deliver` runs
    /// with the store locked and must not call it. The commit leaves the write-ahead log to `checkpoint()`,
    /// which the caller runs once the round is over (or the next write does).
    public func syncAgentInfoGet(maxResponseBytes: Int = 6_291_456, deliver: (_ status: String, _ payload: String) -> Void)
        throws(StoreError)
    {
        try locked { (s: inout State) throws(StoreError) in
            let db = s.db, after = s.agentInfoLastID
            let page = try db.deferringCheckpoint { () throws(StoreError) -> AgentInfoPage in
                try db.transaction { () throws(StoreError) -> AgentInfoPage in
                    let page = try Self.agentInfoPage(db, after: after, budget: maxResponseBytes - "due ".utf8.count)
                    deliver(page.full ? "due" : "ok", String(decoding: page.bytes, as: UTF8.self))
                    if let last = page.lastID {
                        try db.run(Self.agentInfoMarkSynced, [.int(Int64(after)), .int(Int64(last))])
                    }
                    return page
                }
            }
            s.agentInfoLastID = page.full ? page.lastID ?? 0 : 0
        }
    }

    struct AgentInfoPage {
        var bytes: [UInt8]
        var lastID: Int?
        var full: Bool
    }

    /// Keys as they precede a value, `,"id":,"name":…`, in one buffer (`agentInfoKeyEnds[i]` ends key i),
    /// so the row loop appends slices of one array instead of retaining an array per key. The comma is
    /// dropped for the first key written.
    private static let agentInfoKeyBytes = Array(agentInfoColumns.map { ",\"\($0)\":" }.joined().utf8)
    private static let agentInfoKeyEnds = agentInfoColumns.reduce(into: [Int]()) { ends, c in
        ends.append((ends.last ?? 0) + c.utf8.count + 4)
    }
    private static let labelsKey = Array(#","labels":["#.utf8)

    private static func agentInfoPage(_ db: SQLiteConnection, after: Int, budget: Int) throws(StoreError) -> AgentInfoPage {
        let stmt = try db.statement(agentInfoSelect)
        defer { stmt.reset() }
        try stmt.bind([.int(Int64(after))])
        let labelID = agentInfoColumns.count
        var out: [UInt8] = [UInt8(ascii: "[")]
        var lastID: Int?
        var more = try stmt.step()
        let keyBytes = agentInfoKeyBytes, keyEnds = agentInfoKeyEnds
        while more {
            let id = stmt.int64(0)
            let rowStart = out.count
            if lastID != nil { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            var first = true
            var keyStart = 0
            keyBytes.withUnsafeBufferPointer { keys in
                for (i, keyEnd) in keyEnds.enumerated() {
                    let mark = out.count
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: keys[(first ? keyStart + 1 : keyStart)..<keyEnd]))
                    if stmt.appendJSON(i, into: &out) { first = false } else { out.removeSubrange(mark...) }
                    keyStart = keyEnd
                }
            }
            var labels = 0
            repeat {
                if !stmt.isNull(labelID) {
                    out.append(contentsOf: labels == 0 ? labelsKey[...] : labelsKey[..<1])
                    appendLabel(stmt, at: labelID, into: &out)
                    labels += 1
                }
                more = try stmt.step()
            } while more && stmt.int64(0) == id
            if labels > 0 { out.append(UInt8(ascii: "]")) }
            out.append(UInt8(ascii: "}"))
            if out.count + 1 > budget && lastID != nil {
                out.removeSubrange(rowStart...)
                out.append(UInt8(ascii: "]"))
                return AgentInfoPage(bytes: out, lastID: lastID, full: true)
            }
            lastID = Int(id)
        }
        out.append(UInt8(ascii: "]"))
        return AgentInfoPage(bytes: out, lastID: lastID, full: false)
    }

    private static let labelKeys = [#"{"id":"#, #","key":"#, #","value":"#].map { Array($0.utf8) }

    /// `{"id":N,"key":"…","value":"…"}` from the label columns at `column`…`column + 2`, a NULL as null.
    private static func appendLabel(_ stmt: SQLiteStatement, at column: Int, into out: inout [UInt8]) {
        for (i, key) in labelKeys.enumerated() {
            out.append(contentsOf: key)
            if !stmt.appendJSON(column + i, into: &out) { out.append(contentsOf: "null".utf8) }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `global sync-agent-info-set <chunk>`: writes each agent's columns by id (a key that is absent or
    /// null stores NULL, except that the NOT NULL columns keep their value), forces `sync_status = 'synced'`,
    /// and replaces the agent's labels with the chunk's `labels` (none when absent, mirroring the get side,
    /// which omits the key for an agent without labels). Agents are only updated, never created: an id the
    /// database lacks (deleted meanwhile, or 0, the manager row no peer owns) is counted in
    /// `foreignKeyErrors`, the case 4.8.1's master ignores. The chunk is applied in one transaction.
    ///
    /// The commit leaves the write-ahead log to `checkpoint()`, which the master runs once the worker has its
    /// answer (or the next write does).
    ///
    /// The chunk is applied straight from its bytes; a chunk with anything that path does not take
    /// (escaped keys, repeated keys, a malformed element…) is rolled back and applied again by the reference
    /// path, which also words the error.
    public func syncAgentInfoSet(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int) {
        if let result = try syncAgentInfoSetFast(chunk) { return result }
        return try syncAgentInfoSetReference(chunk)
    }

    /// The byte-level path alone: nil when it gave up, with nothing applied.
    func syncAgentInfoSetFast(_ chunk: String) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int)? {
        var text = chunk
        var fast: Result<(updated: Int, foreignKeyErrors: Int)?, StoreError> = .success(nil)
        text.withUTF8 { bytes in
            fast = Result { () throws(StoreError) in
                try locked { (s: inout State) throws(StoreError) -> (updated: Int, foreignKeyErrors: Int)? in
                    // The applier checks what the CHECK constraints would (see there); the pragma expires
                    // the cached statements, which SQLite prepares again on their next use.
                    try s.db.exec("PRAGMA ignore_check_constraints = ON")
                    let applied = Result { () throws(StoreError) in
                        try s.db.deferringCheckpoint { () throws(StoreError) in
                            try s.db.transaction(rollingBackNil: { () -> (updated: Int, foreignKeyErrors: Int)? in
                                var applier = AgentInfoChunkApplier(db: s.db, bytes: bytes)
                                return applier.apply()
                            })
                        }
                    }
                    try s.db.exec("PRAGMA ignore_check_constraints = OFF")
                    return try applied.get()
                }
            }
        }
        return try fast.get()
    }

    /// Copies the write-ahead log into the database file (SQLite's passive checkpoint): what the agent-info
    /// commands leave for after their answer.
    public func checkpoint() throws(StoreError) {
        try locked { (s: inout State) throws(StoreError) in try s.db.checkpoint() }
    }
}
