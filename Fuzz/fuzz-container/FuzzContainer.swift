import Common
import FuzzSupport

/// The 4.8.1 package container (PROTOCOL.md §5.3) a Wazuh peer sends: `PackageHarness` with inputs that
/// do not start as a zip archive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    PackageHarness.run(FuzzInput.bytes(data, size), format: .wazuh)
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-container") { PackageHarness.run($0, format: .wazuh) } } }
#endif
