import Foundation
import Testing
@testable import Common

/// Shared helpers for the capture and frame-dump tests: expected messages, a decode that collects
/// everything (the fixture files are read through `TestPaths`).
enum CaptureFixtures {
    static var fernet: Fernet { try! Fernet(clusterKey: fixtureKey) }

    /// One line of a `*.expected.jsonl` file.
    struct Expected {
        var dir: String
        var off: Int
        var counter: UInt32
        var cmd: String
        var rawCmd: String
        var flag: String
        var divided: Bool
        var size: Int
        var payloadSHA256: String
        var frames: Int
        var plainLen: Int
        var plainSHA256: String
        var plain: [UInt8]
    }

    static func expected(_ name: String) throws -> [Expected] {
        let text = String(decoding: try TestPaths.fixture(name), as: UTF8.self)
        return try text.split(separator: "\n").map { line in
            let v = try JSONParser.parse(String(line))
            return Expected(
                dir: v["dir"]!.stringValue!, off: Int(v["off"]!.intValue!), counter: UInt32(v["counter"]!.intValue!),
                cmd: v["cmd"]!.stringValue!, rawCmd: v["raw_cmd"]!.stringValue!, flag: v["flag"]!.stringValue!,
                divided: v["divided"]!.boolValue!, size: Int(v["size"]!.intValue!),
                payloadSHA256: v["payload_sha256"]!.stringValue!, frames: Int(v["message_frames"]!.intValue!),
                plainLen: Int(v["plain_len"]!.intValue!), plainSHA256: v["plain_sha256"]!.stringValue!,
                // "plain" holds one character per byte (Latin-1).
                plain: v["plain"]!.stringValue!.unicodeScalars.map { UInt8($0.value) })
        }
    }

    /// Asserts that a decoded message is the expected one, field by field.
    static func check(_ m: DecodedMessage, _ e: Expected, checkDirection: Bool = true,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(m.counter == e.counter, sourceLocation: sourceLocation)
        #expect(m.name == e.cmd, sourceLocation: sourceLocation)
        #expect(m.command.text == e.rawCmd, sourceLocation: sourceLocation)
        #expect(String(UnicodeScalar(m.command.flag)) == e.flag, sourceLocation: sourceLocation)
        #expect(m.isDivided == e.divided, sourceLocation: sourceLocation)
        #expect(m.fragments == e.frames, sourceLocation: sourceLocation)
        #expect(m.wireLength == e.size, sourceLocation: sourceLocation)
        #expect(m.wireSHA256 == e.payloadSHA256, sourceLocation: sourceLocation)
        #expect(m.offset == e.off, sourceLocation: sourceLocation)
        #expect(m.plainLength == e.plainLen, sourceLocation: sourceLocation)
        #expect(m.plainSHA256 == e.plainSHA256, sourceLocation: sourceLocation)
        #expect(m.payload == e.plain, sourceLocation: sourceLocation)
        if checkDirection {
            #expect(m.direction?.rawValue == e.dir, sourceLocation: sourceLocation)
        }
    }
}

/// Everything a decode reported.
final class DecodeRecord {
    var messages: [DecodedMessage] = []
    var stops: [(stream: String, stop: StreamStop)] = []
    var warnings: [String] = []
    var error: CaptureError?
    var summary = CaptureDecoder.Summary()

    func messages(direction: DecodedMessage.Direction) -> [DecodedMessage] {
        messages.filter { $0.direction == direction }
    }

    static func decode(_ bytes: [UInt8], fernet: Fernet? = CaptureFixtures.fernet, port: UInt16 = 1516,
                       format: InputFormat = .auto) -> DecodeRecord {
        let record = DecodeRecord()
        let decoder = CaptureDecoder(options: .init(fernet: fernet, port: port, format: format))
        decoder.onMessage = { record.messages.append($0) }
        decoder.onStop = { record.stops.append(($0, $1)) }
        decoder.onWarning = { record.warnings.append($0) }
        do {
            record.summary = try decoder.run(MemoryByteSource(bytes))
        } catch {
            record.error = error
        }
        return record
    }
}
