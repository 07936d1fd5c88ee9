import Common
import FuzzSupport

/// `etc/ossec.conf` as a node reads it at start: the tolerant XML reader (`ConfigXMLReader`), then the
/// `<cluster>` block's rules (`ClusterConfigLoader.parse`), then the JSON `get_config` answers with.
enum ConfigHarness {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let loaded = try? ClusterConfigLoader.parse(text, file: "ossec.conf") else { return }
        _ = loaded.config.json.pythonText
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ConfigHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-config", ConfigHarness.run) } }
#endif
