import Common
import Crypto
import Foundation
import Testing

/// The common commands of a node link (PROTOCOL.md §4) against a real master, spoken by a raw client.
@Suite(.serialized) struct LinkProtocolTests {
    @Test func longStringsFilesAndCancel() throws {
        let base = Harness.tempDir("link")
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil { (try? RawClient(port: port, key: nil)) != nil })
        let c = try RawClient(port: port, key: Harness.key)
        #expect(try c.request("hello", "worker9 wazuh worker 4.8.1")?.name == "ok")

        // Long strings (§4.1).
        let created = try #require(try c.request("new_str", "10"))
        #expect(created.name == "ok")
        let id = String(decoding: created.payload, as: UTF8.self)
        #expect(UInt32(id) != nil)
        let upd = try #require(try c.request("str_upd", "\(id) 0123456789"))
        #expect(String(decoding: upd.payload, as: UTF8.self) == "String updated")
        #expect(String(decoding: try #require(try c.request("err_str", "7")).payload, as: UTF8.self) == "None")
        let bad = try #require(try c.request("str_upd", "999 x"))
        #expect(bad.name == "err")
        #expect(try c.request("new_str", "300000000")?.name == "error")

        // File transfer (§4.2) into queue/cluster/<worker>/ with the SHA-256 check.
        let rel = "/queue/cluster/worker9/upload.bin"
        let content = Array("package bytes \u{1} \u{2}".utf8)
        let ready = try #require(try c.request("new_file", rel))
        #expect(ready.command.text == "ok  --------")
        #expect(try c.request("file_upd", rel + " " + String(decoding: content, as: UTF8.self))?.name == "ok")
        let digest = Array(SHA256.hash(data: content))
        // The digest is 32 raw bytes, so this frame is built by hand.
        c.counter &+= 1
        let endCounter = c.counter
        c.sendRaw(try c.encoder.encode(counter: endCounter, command: "file_end", payload: Array(rel.utf8) + [0x20] + digest))
        var endReply: WireMessage?
        while let m = try c.receive() { if m.counter == endCounter { endReply = m; break } }
        #expect(endReply.map { String(decoding: $0.payload, as: UTF8.self) } == "File received correctly")
        #expect(FileManager.default.contents(atPath: master.home + rel).map { [UInt8]($0) } == content)

        // A wrong checksum is reported in plain text.
        #expect(try c.request("new_file", rel)?.name == "ok")
        #expect(try c.request("file_upd", rel + " other")?.name == "ok")
        let mismatch = try #require(try c.request("file_end", rel + " " + String(repeating: "x", count: 32)))
        #expect(mismatch.name == "err")
        #expect(String(decoding: mismatch.payload, as: UTF8.self) == "File wasn't correctly received. Checksums aren't equal.")

        // Writes are confined to queue/cluster.
        for hostile in ["/etc/client.keys", "/queue/cluster/../../etc/evil", "/queue/clusterX/a", "/queue/cluster/"] {
            let r = try #require(try c.request("new_file", hostile))
            #expect(r.name == "err" && String(decoding: r.payload, as: UTF8.self) == "Write path not allowed", "\(hostile)")
        }
        #expect(!FileManager.default.fileExists(atPath: master.home + "/etc/client.keys"))
        #expect(!FileManager.default.fileExists(atPath: master.home + "/etc/evil"))

        // cancel_task (§4.3).
        let cancel = try #require(try c.request("cancel_task", "4a1b2c3d " + WazuhException.cluster(3039).json.pythonText))
        #expect(String(decoding: cancel.payload, as: UTF8.self) == "Request received correctly")
        #expect(waitUntil { master.log.contains("The task was canceled due to the following error on the remote node: Error 3039 - Timeout while waiting to receive a file") })
    }

    @Test func perAddressConnectionLimit() throws {
        let base = Harness.tempDir("perip")
        let (master, port) = try Harness.startMaster(.init(name: "master-node", type: "master", port: 0), in: base)
        defer { master.stop(); try? FileManager.default.removeItem(atPath: base) }
        #expect(waitUntil { master.log.contains("Serving on ('127.0.0.1'") })
        var clients: [RawClient] = []
        for _ in 0..<10 { clients.append(try RawClient(port: port, key: Harness.key)) }
        #expect(waitUntil { master.log.components(separatedBy: "Connection from").count == 11 })
        let eleventh = try RawClient(port: port, key: Harness.key)
        #expect(eleventh.isClosedByPeer(within: 3))
        #expect(master.log.contains("Too many connections from 127.0.0.1 (11), rejecting."))
        // The ten accepted connections still work (a peer may only say hello before its hello is accepted).
        #expect(try clients[9].request("hello", "limit-probe wazuh worker 4.8.1")?.name == "ok")
        #expect(try clients[9].request("echo", "still here")?.payload == Array("still here".utf8))
    }
}
