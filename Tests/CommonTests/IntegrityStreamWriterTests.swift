@testable import Common
import Foundation
import Testing

/// The package writer straight to a file, batched and compressed on all cores, against the in-memory
/// writer and a sequential pass: the same decisions and the same bytes.
@Suite("Integrity streaming package writer")
struct IntegrityStreamWriterTests {
    /// The in-memory build, the build to a file and a sequential build; all three must agree.
    static func expectSameBuilds(_ writer: PackageWriter, _ diff: IntegrityDiff,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws -> PackageBuild {
        var writer = writer
        writer.metadataModTime = 1_700_000_000
        let memory = try writer.syncPackage(diff)
        let dir = TemporaryDirectory()
        let file = try writer.syncPackage(diff, toFile: dir.path + "/package")
        var sequential = writer
        sequential.parallel = false
        let single = try sequential.syncPackage(diff)
        #expect(file.bytes.isEmpty, sourceLocation: sourceLocation)
        #expect(dir.read("package") == memory.bytes, "file and memory differ", sourceLocation: sourceLocation)
        #expect(single.bytes == memory.bytes, "parallel and sequential differ", sourceLocation: sourceLocation)
        for build in [file, single] {
            #expect(build.size == memory.bytes.count && build.included == memory.included, sourceLocation: sourceLocation)
            #expect(build.skipped == memory.skipped && build.diff == memory.diff, sourceLocation: sourceLocation)
            #expect(build.metadataBytes == memory.metadataBytes, sourceLocation: sourceLocation)
        }
        return memory
    }

    @Test("a package written to a file equals the one built in memory", arguments: PackageFormat.allCases)
    func fileEqualsMemory(format: PackageFormat) throws {
        let (home, metadata) = IntegrityHomes.generated(count: 300, seed: 11)
        let build = try Self.expectSameBuilds(PackageWriter(format: format, home: home.path), IntegrityDiff(missing: metadata))
        #expect(build.included == metadata.paths && build.skipped.isEmpty)
        let package = try PackageReader().read(build.bytes)
        #expect(package.files.map(\.path) == metadata.paths)
        for file in package.files { #expect(file.content == home.read(file.path), "\(file.path)") }

        // The worker's metadata-only package.
        var writer = PackageWriter(format: format, home: home.path)
        writer.metadataModTime = 1_700_000_000
        let dir = TemporaryDirectory()
        let written = try writer.metadataPackage(metadata, toFile: dir.path + "/metadata")
        #expect(dir.read("metadata") == (try writer.metadataPackage(metadata)).bytes)
        #expect(written.size == dir.read("metadata")?.count)
    }

    @Test("the limit stops the packing at the same file, inside a batch", arguments: PackageFormat.allCases)
    func limitInsideBatch(format: PackageFormat) throws {
        let (home, metadata) = IntegrityHomes.generated(count: 200, seed: 5)
        var missing = IntegrityMetadata(), shared = IntegrityMetadata()
        for (i, (path, m)) in metadata.enumerated() {
            if i % 4 == 0 { shared[path] = m } else { missing[path] = m }
        }
        shared["etc/shared/default/gone.conf"] = FileMetadata(modTime: 1, clusterItemKey: "etc/shared/", hash: "00")
        let diff = IntegrityDiff(missing: missing, shared: shared)
        // 100 KB ends the packing after a few dozen files, in the middle of the first batch of 64; 8 KB
        // makes the larger files too large on their own; 10 MB lets all through.
        for limit in [100_000, 8_000, 10_000_000] {
            let build = try Self.expectSameBuilds(PackageWriter(format: format, home: home.path, limit: limit), diff)
            let package = try PackageReader().read(build.bytes)
            #expect(package.files.map(\.path) == build.included)
            #expect(package.metadata == .sync(try #require(build.diff)))
            if limit == 100_000 {
                #expect(build.limitReached && build.included.count > 5 && build.included.count < 64)
            }
            if limit == 10_000_000 {
                #expect(!build.limitReached && build.diff?.extra.paths == ["etc/shared/default/gone.conf"])
            }
        }
    }

    @Test("a refused diff leaves no package file behind", arguments: PackageFormat.allCases)
    func failureRemovesFile(format: PackageFormat) throws {
        let home = TemporaryDirectory()
        home.write("etc/passwd", "root:x:0:0\n")
        let diff = IntegrityDiff(missing: IntegrityMetadata([("etc/passwd", FileMetadata(modTime: 0, clusterItemKey: "etc/", hash: "00"))]))
        let dir = TemporaryDirectory()
        #expect(throws: PackageError.wrongClusterItem(path: "etc/passwd", key: "etc/")) {
            try PackageWriter(format: format, home: home.path).syncPackage(diff, toFile: dir.path + "/package")
        }
        #expect(dir.listing().isEmpty)
    }

    @Test("zip: what the writer adds for an entry never exceeds the footprint the limit is checked against")
    func zipEntryBound() throws {
        var g = SplitMix64(seed: 77)
        let writer = try ZipArchiveWriter()
        let compressor = ZipEntryCompressor(level: 1)
        var footprints = 0
        for size in [0, 1, 100, 4096, 65_537, 1_000_000] {
            // Random bytes do not compress (the worst case), text does; long names count twice.
            for content in [randomBytes(size, using: &g), Array(String(repeating: "<rule id=", count: size / 9 + 1).utf8.prefix(size))] {
                let path = "etc/shared/default/" + String(repeating: "n", count: size % 200) + "f\(size).conf"
                let entry = try #require(try content.withUnsafeBytes {
                    try compressor.compress(path: path, content: $0, permissions: 0o660, modTime: 1_700_000_000)
                })
                let before = writer.bytesWritten
                try writer.addFile(path: entry.path, data: entry.data, crc: entry.crc, size: entry.size, deflated: !entry.stored,
                                   permissions: entry.permissions, modTime: entry.modTime)
                #expect(writer.bytesWritten - before <= compressor.footprint(entry), "size \(size)")
                footprints += compressor.footprint(entry)
            }
        }
        let bytes = try writer.finish()
        #expect(bytes.count == writer.bytesWritten)
        // The central directory included: only the 22-byte end record is outside every footprint.
        #expect(bytes.count <= footprints + 22)
    }
}
