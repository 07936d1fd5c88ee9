import Foundation
import Testing
@testable import Common

/// The built `frame-dump` binary, end to end.
@Suite(.serialized) struct FrameDumpCLITests {
    static let key = fixtureKey

    @Test func jsonLinesForThePcap() throws {
        let result = try FrameDumpProcess.run(["--key", Self.key, "--json", TestPaths.fixturePath("session1-fresh-worker.pcap")])
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        let lines = result.out.split(separator: "\n")
        #expect(lines.count == 224)
        let first = try JSONParser.parse(String(lines[0]))
        #expect(first["src"]?.stringValue == "127.0.0.1:43246")
        #expect(first["dst"]?.stringValue == "127.0.0.1:1516")
        #expect(first["counter"]?.intValue == 2_060_760_123)
        #expect(first["command"]?.stringValue == "hello")
        #expect(first["flag"]?.stringValue == "")
        #expect(first["length"]?.intValue == 120)
        #expect(first["plain_length"]?.intValue == 26)
        #expect(first["plain_sha256"]?.stringValue == "e585b5dcbd88033a29121390eab79caff11a9477ce36ba9966d18488525ddcfc")
        #expect(first["payload"]?.stringValue == "worker2 wazuh worker 4.8.1")
        #expect(first["fragments"]?.intValue == 1)
        #expect(first["reply_to"] == nil)
        #expect((first["time"]?.doubleValue ?? 0) > 1_795_721_978)
        let second = try JSONParser.parse(String(lines[1]))
        #expect(second["command"]?.stringValue == "ok")
        #expect(second["reply_to"]?.stringValue == "hello")
        #expect(second["payload"]?.stringValue == "Client worker2 added")
        // Every line is an object with the documented keys, times never go backwards.
        var last = 0.0
        for line in lines {
            let v = try JSONParser.parse(String(line))
            for key in ["time", "src", "dst", "counter", "command", "flag", "length", "plain_length", "plain_sha256", "fragments"] {
                #expect(v[key] != nil, "missing \(key)")
            }
            #expect(v["payload"] != nil || v["payload_b64"] != nil)
            let time = v["time"]!.doubleValue!
            #expect(time >= last)
            last = time
        }
    }

    @Test func textLinesForTheLocalSocketCapture() throws {
        let result = try FrameDumpProcess.run(["--port", "1517", TestPaths.fixturePath("session3-local-cluster-control.conn1-4.unix-as-tcp.pcap")])
        #expect(result.status == 0)
        let lines = result.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 14)
        #expect(lines[0].contains("127.0.0.1:36878 → 127.0.0.1:1517 958964012 get_nodes"))
        #expect(lines[1].hasSuffix("(reply to get_nodes)"))
        #expect(lines.allSatisfy { $0.count < 250 })  // previews are short without --payload
        let full = try FrameDumpProcess.run(["--port", "1517", "--payload", TestPaths.fixturePath("session3-local-cluster-control.conn1-4.unix-as-tcp.pcap")])
        #expect(full.out.contains("\\\"totalItems\\\": 2}\""))
    }

    @Test func rawStreamFromStdin() throws {
        let input = try FileHandle(forReadingFrom: TestPaths.fixtures.appendingPathComponent("session1-fresh-worker.conn1.s2c.bin"))
        let result = try FrameDumpProcess.run(["--key", Self.key, "--json", "-"], stdin: input)
        #expect(result.status == 0)
        let lines = result.out.split(separator: "\n")
        #expect(lines.count == 112)
        let first = try JSONParser.parse(String(lines[0]))
        #expect(first["src"]?.stringValue == "-" && first["time"] == nil && first["payload"]?.stringValue == "Client worker2 added")
    }

    @Test func truncatedFileExitsOneAndReportsTheOffset() throws {
        let bytes = try TestPaths.fixture("session1-fresh-worker.conn1.c2s.bin")
        let dir = TemporaryDirectory()
        let file = dir.write("truncated.bin", Array(bytes.prefix(1000)))
        let result = try FrameDumpProcess.run(["--key", Self.key, file])
        #expect(result.status == 1)
        #expect(result.err.contains("decoding stopped at byte offset 944"))
        #expect(result.err.contains("stream truncated"))
        #expect(result.out.split(separator: "\n").count == 7)
    }

    @Test func truncatedPcapExitsOne() throws {
        let bytes = try TestPaths.fixture("session1-fresh-worker.pcap")
        let dir = TemporaryDirectory()
        let file = dir.write("truncated.pcap", Array(bytes.prefix(30000)))
        let result = try FrameDumpProcess.run(["--key", Self.key, "--json", file])
        #expect(result.status == 1)
        #expect(result.err.contains("capture file truncated at byte offset"))
        #expect(!result.out.isEmpty)
    }

    @Test func wrongKeyWarnsOnceAndExitsZero() throws {
        let result = try FrameDumpProcess.run(["--key", "WrongPeerTestKey0123456789abcdef", TestPaths.fixturePath("session1-fresh-worker.pcap")])
        #expect(result.status == 0)
        #expect(result.err.components(separatedBy: "do not decrypt with this key").count == 2)
        #expect(result.out.split(separator: "\n").count == 224)
    }

    @Test func usageAndIOErrorsExitTwo() throws {
        #expect(try FrameDumpProcess.run([]).status == 2)
        #expect(try FrameDumpProcess.run(["--bogus", "x"]).status == 2)
        #expect(try FrameDumpProcess.run(["--key", "short", TestPaths.fixturePath("session1-fresh-worker.pcap")]).status == 2)
        let missing = try FrameDumpProcess.run(["/nonexistent/capture.pcap"])
        #expect(missing.status == 2)
        #expect(missing.err.contains("/nonexistent/capture.pcap"))
        let help = try FrameDumpProcess.run(["--help"])
        #expect(help.status == 0 && help.out.contains("proxy"))
    }
}
