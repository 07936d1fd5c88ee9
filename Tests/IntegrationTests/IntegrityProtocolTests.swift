import Common
import Crypto
import Foundation
import Testing

/// Integrity at the protocol level: the test plays one side with raw frames.
@Suite(.serialized) struct IntegrityProtocolTests {
    /// A 4.8.1 container with the given entries (path, content) and metadata.
    static func container(_ entries: [(String, [UInt8])], metadata: JSONValue) throws -> [UInt8] {
        var out: [UInt8] = []
        for (path, content) in entries {
            out += Array(path.utf8) + WazuhContainer.pathSeparator + (try Zlib.compress(content, level: 1)) + Array("|@@//@@|".utf8)
        }
        out += Array("files_metadata.json".utf8) + WazuhContainer.pathSeparator + (try Zlib.compress(Array(metadata.pythonText.utf8), level: 1))
        return out
    }

    static func entry(_ key: String) -> JSONValue {
        ["mod_time": 1.5, "cluster_item_key": .string(key), "merged": false, "hash": .string(String(repeating: "0", count: 128))]
    }

    /// Plays a master that pushes `package` to a real worker; returns the worker's node after the attempt.
    static func push(_ package: [UInt8], label: String, check: (String, Node) -> Void) throws {
        // The worker's requests are answered as a master that never grants a check would; its refusal
        // report (syn_i_w_m_r) may arrive while the test waits for any reply, so it is noted here.
        final class Seen: @unchecked Sendable { var report: WireMessage? }
        let seen = Seen()
        let answering = { (conn: RawClient) -> (WireMessage) throws -> Void in
            { m in
                switch m.name {
                case "syn_i_w_m_p": try conn.reply(to: m, "ok", Array("False".utf8))
                case "syn_i_w_m_r":
                    seen.report = m
                    try conn.reply(to: m, "ok", Array("Error received".utf8))
                default: try conn.reply(to: m, "ok", Array("Thanks".utf8))
                }
            }
        }
        try IntegrityStreamingTests.session(label, answering: answering) { s in
            let rel = "/queue/cluster/worker1/worker1-1.0-evil.zip"
            try s.send(rel, package)
            try s.end(rel)
            // The worker reports the refusal with syn_i_w_m_r.
            s.conn.setTimeout(5)
            while seen.report == nil, let m = try s.conn.receive() { try s.answer(m) }
            #expect(seen.report != nil, "worker log:\n\(s.worker.log)")
            check(s.home, s.worker)
        }
    }

    @Test(arguments: [
        ("dotdot", "etc/rules/../../../outside.txt", "etc/rules/"),
        ("absolute", "/tmp/clusterd-absolute-escape.txt", "etc/rules/"),
        ("outsideItems", "etc/internal_options.conf", "etc/"),
        ("excluded", "etc/shared/default/ar.conf", "etc/shared/"),
    ])
    func hostilePackageIsRefusedAndNothingIsWritten(label: String, path: String, key: String) throws {
        let package = try Self.container([(path, Array("pwned\n".utf8))],
                                         metadata: ["missing": .object(JSONObject([(path, Self.entry(key))])), "extra": [:], "shared": [:]])
        try Self.push(package, label: label) { home, worker in
            #expect(worker.log.contains("[Integrity sync] Error synchronizing files: "), "\(worker.log)")
            #expect(!FileManager.default.fileExists(atPath: (home as NSString).deletingLastPathComponent + "/outside.txt"))
            #expect(!FileManager.default.fileExists(atPath: "/tmp/clusterd-absolute-escape.txt"))
            #expect(!FileManager.default.fileExists(atPath: home + "/etc/internal_options.conf"))
            #expect(!FileManager.default.fileExists(atPath: home + "/etc/shared/default/ar.conf"))
            #expect((try? String(contentsOfFile: home + "/etc/rules/local.xml", encoding: .utf8)) == "keep\n")
            let leftovers = (try? FileManager.default.subpathsOfDirectory(atPath: home + "/queue/cluster/worker1")) ?? []
            #expect(leftovers.isEmpty, "received package removed: \(leftovers)")
        }
    }

    @Test func hostileExtraDeletionIsRefused() throws {
        let package = try Self.container([], metadata: ["missing": [:], "shared": [:],
                                                        "extra": .object(JSONObject([("etc/../etc/ossec.conf", Self.entry("etc/"))]))])
        try Self.push(package, label: "extra") { home, _ in
            #expect(FileManager.default.fileExists(atPath: home + "/etc/ossec.conf"))
        }
    }
}
