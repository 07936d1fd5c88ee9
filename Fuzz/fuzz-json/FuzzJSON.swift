import Common
import FuzzSupport

/// The JSON parser behind every payload a peer, the local socket or wazuh-db sends (`JSONParser`), and
/// the Python-compatible encoder its values go back out through: what is accepted must encode to text
/// that parses back to the same text.
enum JSONHarness {
    static func run(_ bytes: [UInt8]) {
        _ = try? JSONParser.parse(bytes, maxDepth: 8)
        guard let value = try? JSONParser.parse(bytes) else { return }
        let text = value.pythonText
        let compact = PythonJSONEncoder(compact: true, ensureASCII: false).encode(value)
        let again: JSONValue
        do { again = try JSONParser.parse(text) } catch {
            FuzzInput.violated("the encoder's text does not parse: \(error)")
        }
        guard again.pythonText == text else { FuzzInput.violated("encode → parse → encode changed the text") }
        guard (try? JSONParser.parse(compact))?.pythonText == text else {
            FuzzInput.violated("the compact, non-ASCII text does not parse back to the same value")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    JSONHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-json", JSONHarness.run) } }
#endif
