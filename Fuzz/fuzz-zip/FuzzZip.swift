import Common
import FuzzSupport

/// The zip package a clusterd peer sends (libarchive behind `ZipArchiveReader`): `PackageHarness` with
/// inputs that start as a zip archive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    PackageHarness.run(FuzzInput.bytes(data, size), format: .zip)
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-zip") { PackageHarness.run($0, format: .zip) } } }
#endif
