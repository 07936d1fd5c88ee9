import Foundation
import Testing
@testable import Common

/// Agent objects written straight to JSON text are the objects the tree renderer builds, byte for byte
/// once encoded: same keys, same order, same escapes.
@Suite struct StoreAgentRenderTests {
    @Test func rawRowsEncodeAsTheTreeDoes() throws {
        let dir = TemporaryDirectory()
        let store = try StoreTest.store(dir, node: "master-node")
        try store.insertAgent(id: 1, name: "web-1", ip: "any", key: "k1", groups: ["default", "web"], groupSyncStatus: "syncreq", dateAdd: 1_700_000_000)
        try store.insertAgent(id: 2, name: "db-\"quoted\"", ip: "10.0.0.2", key: "k2", groups: [], groupSyncStatus: "synced", dateAdd: 0)
        try store.insertAgent(id: 3, name: "ünïcode-名", ip: "any", key: "k3", groups: ["g"], groupSyncStatus: "synced", dateAdd: 1)
        try store.recordKeepalive(id: 1, nodeName: "worker1", connectionStatus: "disconnected",
                                  os: ["os_name": "Ubuntu", "os_uname": "Linux |a\\b |\t", "os_arch": "x86_64"], version: "Wazuh v4.8.1",
                                  lastKeepalive: 1_800_000_000, syncStatus: "syncreq")
        try store.recordKeepalive(id: 3, nodeName: "worker2", connectionStatus: "active", os: ["os_name": "Cent\u{1}OS"],
                                  version: "v", lastKeepalive: 1_800_000_001, syncStatus: "synced")
        for names in [AgentField.names, ["id", "name", "status"], ["os.name", "group", "disconnection_time", "lastKeepAlive"]] {
            let fields = names.compactMap(AgentField.named)
            let sql = "SELECT \(fields.map(\.sql).joined(separator: ", ")) FROM agent ORDER BY id"
            let pairs = try store.locked { (s: inout AgentStore.State) throws(StoreError) -> [(JSONValue, [UInt8])] in
                try AgentStore.withStatement(s.db, sql, []) { (stmt: SQLiteStatement) throws(StoreError) -> [(JSONValue, [UInt8])] in
                    var out: [(JSONValue, [UInt8])] = []
                    while try stmt.step() { out.append((AgentStore.render(stmt, fields: fields), AgentStore.renderJSON(stmt, fields: fields))) }
                    return out
                }
            }
            #expect(pairs.count == 4)
            for (tree, raw) in pairs {
                #expect(PythonJSONEncoder().encodeBytes(tree) == raw, "\(String(decoding: raw, as: UTF8.self)) vs \(tree.pythonText)")
                #expect(JSONValue.raw(RawJSON(raw)).materialized == tree)
            }
        }
    }
}

/// The reference the raw rows are checked against: each row as a `JSONValue` tree (the framework shape:
/// padded ids, `os` nested and last, dates wrapped, `group` a list, NULL columns and a zero disconnection
/// time left out).
extension AgentStore {
    static func render(_ stmt: SQLiteStatement, fields: [AgentField]) -> JSONValue {
        var o = JSONObject()
        var os = JSONObject()
        for (i, field) in fields.enumerated() where !stmt.isNull(i) {
            let value: JSONValue
            switch field.kind {
            case .id: value = .string(ClientKeys.paddedID(stmt.int(i) ?? 0))
            case .text: value = .string(stmt.text(i) ?? "")
            case .integer: value = .int(Int64(stmt.int(i) ?? 0))
            case .date: value = WazuhDate.json(epoch: stmt.int(i) ?? 0)
            case .dateNonZero:
                let t = stmt.int(i) ?? 0
                if t == 0 { continue }
                value = WazuhDate.json(epoch: t)
            case .groups: value = .array((stmt.text(i) ?? "").split(separator: ",").map { .string(String($0)) })
            }
            if let key = field.osKey { os[key] = value } else { o[field.name] = value }
        }
        if !os.isEmpty { o["os"] = .object(os) }
        return .object(o)
    }

    static func renderJSON(_ stmt: SQLiteStatement, fields: [AgentField]) -> [UInt8] {
        renderJSON(stmt, plan: RowPlan(fields))
    }
}
