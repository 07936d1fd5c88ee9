import Common
import Crypto
import Foundation
import Testing

/// Our master facing a Wazuh 4.8.1 worker: the test replays the worker side of the captured integrity
/// exchange (session 1) and checks our master answers and continues with the same commands, using the
/// 4.8.1 package container (a Wazuh worker announces no zip capability).
@Suite(.serialized) struct IntegrityFixtureSequenceTests {
    static let fixtures = Harness.packageRoot.appendingPathComponent("Tests/Fixtures/wazuh-4.8.1")

    /// The commands of the first integrity round in the capture, in order, with their direction.
    static func capturedSequence() throws -> [String] {
        let lines = try String(contentsOf: fixtures.appendingPathComponent("session1-fresh-worker.conn1.expected.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        var sequence: [String] = []
        var started = false
        for line in lines {
            let m = try JSONParser.parse(String(line))
            let cmd = m["cmd"]!.stringValue!, dir = m["dir"]!.stringValue!
            if cmd == "syn_i_w_m_p" { started = true }
            if !started { continue }
            if ["syn_g_m_w", "new_str", "str_upd", "syn_w_g_e", "syn_a_w_m_p"].contains(cmd) { continue }  // other tasks interleaved
            sequence.append("\(dir) \(cmd)")
            if cmd == "syn_m_c_e" { break }
        }
        return sequence
    }

    @Test func sameCommandsAsTheCapture() throws {
        let base = Harness.tempDir("fixture-seq")
        // Agent-groups broadcasts are held back: this test replays the integrity exchange alone (the
        // capture's interleaved agent-groups messages are filtered out of the expected sequence too).
        let spec = Harness.NodeSpec(name: "master-node", type: "master", port: 0,
                                    intervals: ["master": ["agent_group_start_delay": 1000]])
        let home = try Harness.makeHome(spec, in: base)
        try "001 agent-1 any 0123\n".write(toFile: home + "/etc/client.keys", atomically: true, encoding: .utf8)
        try "<group name=\"peer\"/>\n".write(toFile: home + "/etc/rules/peer_test_rules.xml", atomically: true, encoding: .utf8)
        let (master, port) = try Harness.startMaster(spec, in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil { master.log.contains("Calculated metadata of 2 files.") })

        let c = try RawClient(port: port, key: Harness.key)
        var seen: [String] = []
        func request(_ cmd: String, _ payload: [UInt8]) throws -> WireMessage {
            seen.append("c2s \(cmd)")
            let reply = try #require(try c.request(cmd, payload: payload) { m in Issue.record("unexpected request \(m.name)") })
            seen.append("s2c \(reply.name)")
            return reply
        }
        let hello = try request("hello", Array("worker2 wazuh worker 4.8.1".utf8))
        #expect(String(decoding: hello.payload, as: UTF8.self).hasPrefix("Client worker2 added"))
        seen.removeAll()
        #expect(String(decoding: try request("syn_i_w_m_p", []).payload, as: UTF8.self) == "True")
        let taskID = String(decoding: try request("syn_i_w_m", []).payload, as: UTF8.self)
        #expect(taskID.count == 36)
        let package = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent("worker-metadata-package-4.8.1.bin")))
        let rel = "/queue/cluster/worker2/worker2-1795720764.964875-dd0b54c2dc26453aa4bf898a0a61b27b.zip"
        let ready = try request("new_file", Array(rel.utf8))
        #expect(ready.command.text == "ok  --------")
        #expect(String(decoding: try request("file_upd", Array(rel.utf8) + [0x20] + package).payload, as: UTF8.self) == "File updated")
        #expect(String(decoding: try request("file_end", Array(rel.utf8) + [0x20] + Array(SHA256.hash(data: package))).payload, as: UTF8.self) == "File received correctly")
        #expect(String(decoding: try request("syn_i_w_m_e", Array("\(taskID) \(rel.dropFirst())".utf8)).payload, as: UTF8.self) == "File correctly received")

        // Now the master drives: syn_m_c, the file transfer, syn_m_c_e.
        var received: [UInt8] = []
        var packagePath = ""
        c.setTimeout(10)
        while let m = try c.receive() {
            seen.append("s2c \(m.name)")
            switch m.name {
            case "syn_m_c":
                try c.reply(to: m, "ok", Array("39e1b25b-3f32-4f24-920a-b4e53631dca5".utf8))
            case "new_file":
                packagePath = String(decoding: m.payload, as: UTF8.self)
                try c.reply(to: m, "ok ", Array("Ready to receive new file".utf8))
            case "file_upd":
                let space = m.payload.firstIndex(of: 0x20)!
                received += m.payload[(space + 1)...]
                try c.reply(to: m, "ok", Array("File updated".utf8))
            case "file_end":
                try c.reply(to: m, "ok", Array("File received correctly".utf8))
            case "syn_m_c_e":
                try c.reply(to: m, "ok", Array("File correctly received".utf8))
            default:
                try c.reply(to: m, "ok", [])
            }
            if seen.last?.hasSuffix("syn_m_c_e") == true { break }
        }
        // The requests in both directions, in order, equal the capture's (replies of the capture's other
        // interleaved tasks make a reply-by-reply comparison meaningless; replies were checked above).
        func requests(_ s: [String]) -> [String] { s.filter { !$0.hasSuffix(" ok") && !$0.hasSuffix(" err") } }
        let expected = requests(try Self.capturedSequence())
        #expect(expected == ["c2s syn_i_w_m_p", "c2s syn_i_w_m", "c2s new_file", "c2s file_upd", "c2s file_end", "c2s syn_i_w_m_e",
                             "s2c syn_m_c", "s2c new_file", "s2c file_upd", "s2c file_end", "s2c syn_m_c_e"])
        #expect(requests(seen) == expected)
        #expect(packagePath.hasPrefix("/queue/cluster/worker2/worker2-"))
        #expect(PackageFormat.detect(received) == .wazuh, "a Wazuh worker gets the 4.8.1 container")
        let parsed = try PackageReader().read(received)
        #expect(Set(parsed.files.map(\.path)) == ["etc/client.keys", "etc/rules/peer_test_rules.xml"])
        guard case .sync(let diff) = parsed.metadata else { Issue.record("not a sync package"); return }
        #expect(diff.missing.count + diff.shared.count == parsed.files.count)
    }
}
