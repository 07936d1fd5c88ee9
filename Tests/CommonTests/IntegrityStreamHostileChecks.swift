import Common
import Foundation
import Testing

/// The streaming half of every hostile-package test: the package is written to a file, then read by
/// `PackageStreamReader` and applied by `PackageApplier.apply(packageFile:)` over a home that already
/// holds files. Both must refuse it with the expected error; the reader may have delivered files before
/// the damage showed, but never one with a name the items refuse; and the home must be exactly as it
/// was: no new file, no temporary file, no new directory, every old file with its old content.
enum IntegrityStreamHostileChecks {
    static let existing: [(String, String)] = [
        ("etc/client.keys", "001 existing any key\n"),
        ("etc/shared/default/agent.conf", "<old/>\n"),
        ("etc/rules/local_rules.xml", "<rule id=\"1\"/>\n"),
    ]

    static func expectRefused(_ bytes: [UInt8], reader: PackageReader, sourceLocation: SourceLocation,
                              _ check: (PackageError) -> Bool) throws {
        let dir = TemporaryDirectory()
        let package = dir.write("package", bytes)
        // Small reads too, so that every separator and name straddles a window edge somewhere.
        for readSize in [3, 1 << 20] {
            var delivered: [String] = []
            let streamer = PackageStreamReader(items: reader.items, maxDecompressedSize: reader.maxDecompressedSize,
                                               readSize: readSize)
            do {
                _ = try streamer.read(file: package) { delivered.append($0.path) }
                Issue.record("the streaming reader accepted the package", sourceLocation: sourceLocation)
            } catch {
                #expect(check(error), "streaming reader: unexpected error \(error)", sourceLocation: sourceLocation)
            }
            for path in delivered {
                #expect((try? reader.items.owner(of: path).get()) != nil, "delivered '\(path)'", sourceLocation: sourceLocation)
            }
        }

        for writerThreads in [0, 2] {
            let home = TemporaryDirectory()
            for (path, content) in existing { home.write(path, content) }
            let before = home.listing()
            var applier = PackageApplier(home: home.path, items: reader.items)
            applier.writerThreads = writerThreads
            do {
                _ = try applier.apply(packageFile: package, budget: reader.maxDecompressedSize)
                Issue.record("the streaming applier accepted the package", sourceLocation: sourceLocation)
            } catch {
                #expect(check(error), "streaming applier: unexpected error \(error)", sourceLocation: sourceLocation)
            }
            #expect(home.listing() == before, "the home changed", sourceLocation: sourceLocation)
            for (path, content) in existing {
                #expect(home.read(path) == Array(content.utf8), "\(path) changed", sourceLocation: sourceLocation)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/integrity-evil"), sourceLocation: sourceLocation)
    }
}
