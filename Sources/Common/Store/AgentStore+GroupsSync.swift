/// `sync-agent-groups-get`: what the master broadcasts every 10 s and pages through on a full resync
/// (PROTOCOL.md §7.1, §7.3), and what a worker reads for its checksum check.
extension AgentStore {
    /// Which agents `sync-agent-groups-get` lists.
    public enum GroupsCondition: String, Sendable {
        /// Agents whose `group_sync_status` is `syncreq`.
        case syncStatus = "sync_status"
        /// Every agent (id > 0).
        case all
    }

    /// Bytes kept free for the `,"hash":"<40 hex>"` the final chunk carries.
    private static let hashReserve = #","hash":""#.utf8.count + 40 + 1

    /// `global sync-agent-groups-get`: `[{"data":[{"id":N,"groups":[…]},…]}]` (compact) listing, after
    /// `lastID`, the agents `condition` selects (none when it is nil), with their groups in priority order.
    /// With `setSynced` the listed agents become `group_sync_status = 'synced'`. The status is "due" when
    /// the next agent would not fit in `maxResponseBytes` (status word included); only the final ("ok")
    /// chunk carries `"hash"`, when `getGlobalHash` asks for it, null when no agent has a group hash.
    /// The caller pages with `lastID` = the last id of the previous chunk, as 4.8.1's master does.
    public func syncAgentGroupsGet(condition: GroupsCondition?, setSynced: Bool, getGlobalHash: Bool, lastID: Int = 0,
                                   maxResponseBytes: Int = 6_291_456) throws(StoreError) -> (status: String, payload: String)
    {
        try locked { (s: inout State) throws(StoreError) -> (status: String, payload: String) in
            let head = Array(#"[{"data":["#.utf8)
            let budget = maxResponseBytes - "due ".utf8.count - head.count - "]}]".utf8.count - Self.hashReserve
            var items: [UInt8] = []
            var listed: [Int] = []
            var full = false
            if let condition {
                let filter = condition == .syncStatus ? " AND a.group_sync_status = 'syncreq'" : ""
                let stmt = try s.db.statement(
                    """
                    SELECT a.id, g.name FROM agent a
                    LEFT JOIN belongs b ON b.id_agent = a.id LEFT JOIN `group` g ON g.id = b.id_group
                    WHERE a.id > ?\(filter) ORDER BY a.id, b.priority
                    """)
                try stmt.bind([.int(Int64(lastID))])
                var pending: (id: Int, groups: [JSONValue])? = nil
                // Appends the finished agent; false when it does not fit (and something is already listed).
                func emit() -> Bool {
                    guard let p = pending else { return true }
                    let text = Self.wdbJSON.encodeBytes(.object(JSONObject([("id", .int(Int64(p.id))),
                                                                            ("groups", .array(p.groups))])))
                    let separator = listed.isEmpty ? 0 : 1
                    if items.count + separator + text.count > budget && !listed.isEmpty { return false }
                    if separator == 1 { items.append(UInt8(ascii: ",")) }
                    items.append(contentsOf: text)
                    listed.append(p.id)
                    return true
                }
                while try stmt.step() {
                    let id = stmt.int(0) ?? 0
                    if pending?.id != id {
                        guard emit() else { full = true; pending = nil; break }
                        pending = (id, [])
                    }
                    if let name = stmt.text(1) { pending?.groups.append(.string(name)) }
                }
                if !full && !emit() { full = true }
                stmt.reset()
            }
            if setSynced && !listed.isEmpty {
                try s.db.transaction { () throws(StoreError) in
                    for id in listed {
                        try s.db.run("UPDATE agent SET group_sync_status = 'synced' WHERE id = ?", [.int(Int64(id))])
                    }
                }
            }
            var out = head + items + [UInt8(ascii: "]")]
            if getGlobalHash && !full {
                let hash: JSONValue = try Self.globalGroupHash(s.db).map { .string($0) } ?? .null
                out += Array(#","hash":"#.utf8) + Self.wdbJSON.encodeBytes(hash)
            }
            out += Array("}]".utf8)
            return (full ? "due" : "ok", String(decoding: out, as: UTF8.self))
        }
    }
}
