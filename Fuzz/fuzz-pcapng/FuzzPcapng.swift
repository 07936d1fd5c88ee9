import Common
import FuzzSupport

/// pcapng captures (`PcapngReader`) through frame-dump's decoder (`CaptureHarness`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    CaptureHarness.run(FuzzInput.bytes(data, size), format: .pcapng)
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-pcapng") { CaptureHarness.run($0, format: .pcapng) } } }
#endif
