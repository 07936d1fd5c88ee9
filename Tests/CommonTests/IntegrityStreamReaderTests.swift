import Common
import Foundation
import Testing

/// The package reader that works from a file through a window, against independent readings: the 4.8.1
/// reader's own algorithm (split the whole container, inflate each piece) and the files of the home.
@Suite("Integrity streaming package reader")
struct IntegrityStreamReaderTests {
    /// The 4.8.1 reading (PROTOCOL.md §5.3), written plainly over the whole package in memory.
    static func oracle(_ bytes: [UInt8]) throws -> [(String, [UInt8])] {
        let data = Data(bytes)
        var out: [(String, [UInt8])] = []
        var rest = data[...]
        while true {
            let end = rest.range(of: Data("|@@//@@|".utf8))
            let piece = rest[..<(end?.lowerBound ?? rest.endIndex)]
            let sep = try #require(piece.range(of: Data("|//@@//|".utf8)))
            let name = String(decoding: piece[..<sep.lowerBound], as: UTF8.self)
            out.append((name, try Zlib.decompress(ArraySlice(piece[sep.upperBound...]), limit: 1 << 30)))
            guard let end else { return out }
            rest = rest[end.upperBound...]
        }
    }

    /// Streams `bytes` from a file with the given read size; returns the files and what ends the package.
    static func stream(_ bytes: [UInt8], readSize: Int = 1 << 20,
                       reader: PackageStreamReader = PackageStreamReader()) throws -> ([PackageFile], StreamedPackage) {
        let dir = TemporaryDirectory()
        dir.write("package", bytes)
        var r = reader
        r.readSize = readSize
        var files: [PackageFile] = []
        let end = try r.read(file: dir.path + "/package") { files.append($0) }
        return (files, end)
    }

    @Test("a package from the writer streams to the files of the home", arguments: PackageFormat.allCases)
    func writerPackages(format: PackageFormat) throws {
        let (home, metadata) = IntegrityHomes.generated(count: 120, seed: 3)
        let build = try PackageWriter(format: format, home: home.path).syncPackage(IntegrityDiff(missing: metadata))
        let (files, end) = try Self.stream(build.bytes)
        #expect(end.format == format && end.fileCount == files.count)
        #expect(files.map(\.path) == metadata.paths)
        for file in files { #expect(file.content == home.read(file.path), "\(file.path)") }
        #expect(end.metadata == .sync(IntegrityDiff(missing: metadata)) && end.metadataBytes == build.metadataBytes)
        let inMemory = try PackageReader().read(build.bytes)
        #expect(inMemory.files == files && inMemory.metadata == end.metadata)
        if format == .wazuh {
            let expected = try Self.oracle(build.bytes)
            #expect(expected.dropLast().map(\.0) == files.map(\.path))
            #expect(expected.dropLast().map(\.1) == files.map(\.content))
        }
    }

    @Test("the captured 4.8.1 packages stream as the 4.8.1 reader splits them")
    func fixtures() throws {
        for name in ["master-package-4.8.1.bin", "worker-metadata-package-4.8.1.bin"] {
            let bytes = try TestPaths.fixture(name)
            let expected = try Self.oracle(bytes)
            for readSize in [1, 7, 8, 9, 100, 1 << 20] {
                let (files, end) = try Self.stream(bytes, readSize: readSize)
                #expect(files.map(\.path) == expected.dropLast().map(\.0), "\(name) read \(readSize)")
                #expect(files.map(\.content) == expected.dropLast().map(\.1), "\(name) read \(readSize)")
                #expect(end.metadataBytes == expected.last?.1)
                let package = try PackageReader().read(bytes)
                #expect(package.files == files && package.metadata == end.metadata)
            }
        }
    }

    @Test("separators straddling the read window, and bytes that almost are separators")
    func straddlingSeparators() throws {
        // Level 0 keeps contents as they are: the data then holds 7 of a separator's 8 bytes in a row,
        // which the window must keep back without taking them for the real thing.
        let contents: [(String, [UInt8])] = [
            ("etc/client.keys", Array("001 a any k|@@//@x|//@@//y\n".utf8)),
            ("etc/shared/default/agent.conf", Array("|@@//@".utf8)),
            ("etc/rules/empty.xml", []),
            ("etc/rules/r.xml", randomBytes(3000, seed: 4) + Array("|@@//@".utf8)),
            ("etc/lists/l", Array("x".utf8)),
        ]
        var container: [UInt8] = []
        for (name, content) in contents {
            container += Array(name.utf8) + WazuhContainer.pathSeparator + (try Zlib.compress(content, level: 0))
            container += WazuhContainer.fileSeparator
        }
        container += Array("files_metadata.json".utf8) + WazuhContainer.pathSeparator + (try Zlib.compress(Array("{}".utf8), level: 0))
        let expected = try Self.oracle(container)
        for readSize in Array(1...40) + [63, 64, 65, 127, 4096] {
            let (files, end) = try Self.stream(container, readSize: readSize)
            #expect(files.map(\.path) == contents.map(\.0), "read size \(readSize)")
            #expect(files.map(\.content) == contents.map(\.1), "read size \(readSize)")
            #expect(end.metadataBytes == expected.last?.1 && end.metadata == .node(IntegrityMetadata()))
        }
    }

    @Test("a file is delivered only once its name, budget and checksum are checked")
    func deliveryOrder() throws {
        // The second entry's data is damaged: the first file arrives, the second never does.
        var container = try IntegrityHostilePackageTests.container([
            ("etc/client.keys", Array("001 a any k\n".utf8)),
            ("etc/rules/r.xml", randomBytes(2000, seed: 1)),
        ])
        let second = try #require(container.indices.first { container[$0...].starts(with: Array("etc/rules/r.xml".utf8)) })
        container[second + 40] ^= 0xFF
        for readSize in [5, 1 << 20] {
            var delivered: [String] = []
            let dir = TemporaryDirectory()
            dir.write("package", container)
            var reader = PackageStreamReader()
            reader.readSize = readSize
            #expect(throws: PackageError.self) {
                _ = try reader.read(file: dir.path + "/package") { delivered.append($0.path) }
            }
            #expect(delivered == ["etc/client.keys"])
        }
    }
}
