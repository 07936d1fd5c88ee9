import Common
import Foundation

/// An integrity package as a peer sends it, read every way a node reads one: held in memory
/// (`PackageReader`), from the received file (`PackageStreamReader.read(file:)`), and while it is
/// still arriving (`read(incoming:)`), the 4.8.1 container also through a window of a few bytes.
public enum PackageHarness {
    /// The file the input is written to for the file readers (one per process: libFuzzer runs one input
    /// at a time).
    static let scratchDirectory: String = {
        let dir = NSTemporaryDirectory() + "clusterd-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: PackageHarness.scratchDirectory) }
        return dir
    }()
    static let scratch = scratchDirectory + "/package.bin"

    public static func run(_ bytes: [UInt8], format: PackageFormat) {
        guard PackageFormat.detect(bytes) == format else { return }
        let inMemory = Result { () throws(PackageError) in try PackageReader().read(bytes) }
            .map { Accepted(files: $0.files, metadata: $0.metadata, metadataBytes: $0.metadataBytes) }
        guard FileManager.default.createFile(atPath: scratch, contents: Data(bytes)) else {
            FuzzInput.violated("cannot write \(scratch)")
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The default window (1 MiB) once; smaller ones for the other sources, which keeps the run fast
        // and moves where the reads end.
        let fromFile = collect { body throws(PackageError) in
            try PackageStreamReader(readSize: 4096).read(file: scratch, body)
        }
        let incoming = IncomingFile(path: scratch)
        incoming.advance(by: bytes.count)
        incoming.complete()
        let arriving = collect { body throws(PackageError) in
            try PackageStreamReader(readSize: 512).read(incoming: incoming, body)
        }
        same(inMemory, fromFile, "in memory", "from the file")
        switch format {
        case .wazuh:
            // One parser behind every source: the window size and where reads end must not matter.
            same(inMemory, arriving, "in memory", "while arriving")
            let readSize = 1 + bytes.count % 29
            let windowed = collect { body throws(PackageError) in
                try PackageStreamReader(readSize: readSize).read(bytes: bytes, body)
            }
            same(inMemory, windowed, "in memory", "through a \(readSize)-byte window")
        case .zip:
            // libarchive's streaming reader follows the local headers, the seekable one the central
            // directory: they may disagree on a crafted archive, so only crashes count here.
            _ = arriving
        }
    }

    /// What a reader accepted.
    struct Accepted {
        var files: [PackageFile]
        var metadata: PackageMetadata
        var metadataBytes: [UInt8]
    }

    typealias Read = (_ body: (PackageFile) throws(PackageError) -> Void) throws(PackageError) -> StreamedPackage

    /// The files a streaming read delivers, or its failure.
    static func collect(_ read: Read) -> Result<Accepted, PackageError> {
        var files: [PackageFile] = []
        do {
            let streamed = try read { files.append($0) }
            return .success(Accepted(files: files, metadata: streamed.metadata, metadataBytes: streamed.metadataBytes))
        } catch {
            return .failure(error)
        }
    }

    /// Both accepted the same files, or both refused the package.
    static func same(_ a: Result<Accepted, PackageError>, _ b: Result<Accepted, PackageError>,
                     _ aName: String, _ bName: String) {
        switch (a, b) {
        case let (.success(x), .success(y)):
            guard x.files == y.files, x.metadata == y.metadata, x.metadataBytes == y.metadataBytes else {
                FuzzInput.violated("read \(aName) and \(bName), the package gave different files")
            }
        case (.failure, .failure):
            break
        case let (.success, .failure(e)):
            FuzzInput.violated("accepted \(aName), refused \(bName): \(e)")
        case let (.failure(e), .success):
            FuzzInput.violated("refused \(aName) (\(e)), accepted \(bName)")
        }
    }
}
