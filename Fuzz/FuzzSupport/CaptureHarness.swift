import Common

/// A capture file as frame-dump reads it (`CaptureDecoder`: the pcap or pcapng reader, TCP reassembly,
/// frame sync, decryption with the fixtures' key), every message rendered both ways frame-dump prints it.
public enum CaptureHarness {
    static let fernet = try! Fernet(clusterKey: FuzzInput.fixtureKey)
    static let formatters = [MessageFormatter(style: .text(fullPayload: true)), MessageFormatter(style: .json)]

    public static func run(_ bytes: [UInt8], format: InputFormat) {
        // The node links' port and the local socket's (its capture replays the Unix socket as TCP).
        for port: UInt16 in [1516, 1517] {
            let decoder = CaptureDecoder(options: .init(fernet: fernet, port: port, format: format))
            var lines = 0
            decoder.onMessage = { message in
                for formatter in formatters { lines += formatter.line(message).utf8.count }
            }
            guard let summary = try? decoder.run(MemoryByteSource(bytes)) else { continue }
            guard summary.format == format, summary.messages >= 0, lines >= 0 else {
                FuzzInput.violated("summary of format \(summary.format) for a \(format) capture")
            }
        }
    }
}
