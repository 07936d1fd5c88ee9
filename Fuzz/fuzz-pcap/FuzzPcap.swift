import Common
import FuzzSupport

/// Classic pcap captures (`PcapReader`) through frame-dump's decoder (`CaptureHarness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    CaptureHarness.run(FuzzInput.bytes(data, size), format: .pcap)
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-pcap") { CaptureHarness.run($0, format: .pcap) } } }
#endif
