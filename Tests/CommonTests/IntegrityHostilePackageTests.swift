import Common
import Foundation
import Testing

/// Packages a hostile or broken peer could send. Each must be refused with its typed error, and nothing
/// may be written: not outside the target directory, and not inside it either, because the whole package
/// is checked before the first write.
@Suite("Integrity hostile packages")
struct IntegrityHostilePackageTests {
    /// `{}`: a worker's metadata for no files, valid in both formats.
    private static let emptyMetadata: [UInt8] = Array("{}".utf8)

    /// A 4.8.1 container written by hand from (name, content) pairs; the metadata goes last, unless the
    /// caller puts it somewhere else or leaves it out.
    static func container(_ entries: [(String, [UInt8])], metadata: [UInt8]? = emptyMetadata) throws -> [UInt8] {
        var all = entries
        if let metadata { all.append(("files_metadata.json", metadata)) }
        var out: [UInt8] = []
        for (i, (name, content)) in all.enumerated() {
            out += Array(name.utf8) + Array("|//@@//|".utf8) + (try Zlib.compress(content, level: 1))
            if i < all.count - 1 { out += Array("|@@//@@|".utf8) }
        }
        return out
    }

    /// A zip written with libarchive, with whatever names and entry types the test wants.
    static func zip(_ entries: [(String, [UInt8], ZipArchiveWriter.EntryKind)],
                    metadata: [UInt8]? = emptyMetadata) throws -> [UInt8] {
        let writer = try ZipArchiveWriter()
        for (name, content, kind) in entries {
            try content.withUnsafeBytes { raw in
                Result { () throws(PackageError) in try writer.add(path: name, content: raw, kind: kind, modTime: 1_700_000_000) }
            }.get()
        }
        if let metadata {
            try metadata.withUnsafeBytes { raw in
                Result { () throws(PackageError) in try writer.add(path: "files_metadata.json", content: raw) }
            }.get()
        }
        return try writer.finish()
    }

    /// A sandbox with an empty `target` and a sibling `outside` directory that a successful attack would
    /// write into. Runs the extraction, then checks that both stay exactly as they were. Unless told
    /// otherwise, the package is also streamed from a file (`IntegrityStreamHostileChecks`).
    private func expectRefused(_ bytes: [UInt8], reader: PackageReader = PackageReader(), streamed: Bool = true,
                               prepare: (TemporaryDirectory) throws -> Void = { _ in },
                               sourceLocation: SourceLocation = #_sourceLocation,
                               _ check: (PackageError) -> Bool) throws {
        if streamed {
            try IntegrityStreamHostileChecks.expectRefused(bytes, reader: reader, sourceLocation: sourceLocation, check)
        }
        let sandbox = TemporaryDirectory()
        sandbox.makeDirectory("target")
        sandbox.makeDirectory("outside")
        try prepare(sandbox)
        let before = sandbox.listing()
        do {
            try PackageExtractor(reader: reader).extract(bytes, into: sandbox.path + "/target")
            Issue.record("the package was accepted", sourceLocation: sourceLocation)
        } catch {
            #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
            #expect(!error.description.isEmpty)
        }
        #expect(sandbox.listing() == before, "files were written", sourceLocation: sourceLocation)
        // Absolute and '..' paths from a test package must not have reached /tmp either.
        #expect(!FileManager.default.fileExists(atPath: "/tmp/integrity-evil"), sourceLocation: sourceLocation)
    }

    private let good: [UInt8] = Array("001 agent any key\n".utf8)

    @Test("absolute paths")
    func absolutePaths() throws {
        for name in ["/tmp/integrity-evil", "/etc/client.keys"] {
            try expectRefused(try Self.container([(name, good)])) { $0 == .unsafePath(name, reason: "absolute path") }
            try expectRefused(try Self.zip([(name, good, .file)])) { $0 == .unsafePath(name, reason: "absolute path") }
        }
    }

    @Test("'..' components")
    func dotDot() throws {
        for name in ["etc/shared/../../../tmp/integrity-evil", "../integrity-evil", "etc/shared/a/../../client.keys"] {
            try expectRefused(try Self.container([(name, good)])) { $0 == .unsafePath(name, reason: "'..' component") }
            try expectRefused(try Self.zip([(name, good, .file)])) { $0 == .unsafePath(name, reason: "'..' component") }
        }
        try expectRefused(try Self.container([("etc/shared//x.conf", good)])) {
            $0 == .unsafePath("etc/shared//x.conf", reason: "empty path component")
        }
    }

    @Test("symbolic link and directory-only tricks in zip")
    func symlinkEntries() throws {
        let link = try Self.zip([("etc/shared/default/agent.conf", [], .symlink(target: "/etc/passwd"))])
        try expectRefused(link) { $0 == .unsupportedEntryType("etc/shared/default/agent.conf", type: "symbolic link") }
        // A link followed by a file written "through" it.
        let through = try Self.zip([("etc/shared/evil", [], .symlink(target: "/tmp")),
                                    ("etc/shared/evil/integrity-evil", good, .file)])
        try expectRefused(through) { $0 == .unsupportedEntryType("etc/shared/evil", type: "symbolic link") }
        let dir = try Self.zip([("../escape/", [], .directory)])
        try expectRefused(dir) { if case .unsafePath = $0 { true } else { false } }
    }

    @Test("paths outside the cluster items")
    func outsideItems() throws {
        for name in ["etc/passwd", "bin/wazuh-clusterd", "etc/sub/client.keys", "var/multigroups/a/other", "queue/db/global.db"] {
            try expectRefused(try Self.container([(name, good)])) { $0 == .outsideClusterItems(name) }
            try expectRefused(try Self.zip([(name, good, .file)])) { $0 == .outsideClusterItems(name) }
        }
    }

    @Test("excluded files")
    func excludedFiles() throws {
        for name in ["etc/shared/default/ossec.conf", "etc/shared/ar.conf", "etc/rules/x.xml.swp", "etc/lists/l.tmp", "etc/rules/r~"] {
            try expectRefused(try Self.container([(name, good)])) { $0 == .excludedFile(name) }
            try expectRefused(try Self.zip([(name, good, .file)])) { $0 == .excludedFile(name) }
        }
    }

    @Test("duplicate entries")
    func duplicates() throws {
        let entries = [("etc/client.keys", good), ("etc/client.keys", Array("other\n".utf8))]
        try expectRefused(try Self.container(entries)) { $0 == .duplicateEntry("etc/client.keys") }
        try expectRefused(try Self.zip(entries.map { ($0.0, $0.1, .file) })) { $0 == .duplicateEntry("etc/client.keys") }
        // Two metadata entries.
        try expectRefused(try Self.container([("files_metadata.json", Self.emptyMetadata)])) {
            $0 == .duplicateEntry("files_metadata.json")
        }
    }

    @Test("zip bombs: decompressed total over max_zip_size")
    func bombs() throws {
        let reader = PackageReader(maxDecompressedSize: 1 << 20)
        let zeros = [UInt8](repeating: 0, count: 2 << 20)   // compresses to a few KiB
        try expectRefused(try Self.container([("etc/shared/bomb.conf", zeros)]), reader: reader) { $0 == .tooLarge(limit: 1 << 20) }
        try expectRefused(try Self.zip([("etc/shared/bomb.conf", zeros, .file)]), reader: reader) { $0 == .tooLarge(limit: 1 << 20) }
        // Each entry below the limit, the total above it.
        let part = [UInt8](repeating: 0x41, count: 600_000)
        let parts = [("etc/shared/a.conf", part), ("etc/shared/b.conf", part)]
        try expectRefused(try Self.container(parts), reader: reader) { $0 == .tooLarge(limit: 1 << 20) }
        try expectRefused(try Self.zip(parts.map { ($0.0, $0.1, .file) }), reader: reader) { $0 == .tooLarge(limit: 1 << 20) }
        // The metadata counts too.
        let bigMetadata = Array("{\"pad\": \"".utf8) + [UInt8](repeating: 0x20, count: 2 << 20) + Array("\"}".utf8)
        try expectRefused(try Self.container([], metadata: bigMetadata), reader: reader) { $0 == .tooLarge(limit: 1 << 20) }
    }

    @Test("truncated and corrupt data")
    func damaged() throws {
        let entries = [("etc/client.keys", good), ("etc/rules/r.xml", randomBytes(5000, seed: 9))]
        let container = try Self.container(entries)
        let zip = try Self.zip(entries.map { ($0.0, $0.1, .file) })
        func isDamage(_ e: PackageError) -> Bool {
            switch e { case .truncated, .corrupt: return true; default: return false }
        }
        for cut in [container.count - 3, container.count / 2, 10] {
            try expectRefused(Array(container.prefix(cut)), isDamage)
        }
        for cut in [zip.count - 3, zip.count / 2, 30] {
            try expectRefused(Array(zip.prefix(cut)), isDamage)
        }
        // Flipped bytes inside compressed data: zlib's Adler-32 / zip's CRC-32 catch it.
        var badContainer = container
        badContainer[40] ^= 0xFF
        try expectRefused(badContainer, isDamage)
        var badZip = zip
        let dataStart = 30 + "etc/client.keys".utf8.count + 40   // inside the first entry's data or extra
        for i in dataStart..<dataStart + 8 { badZip[i] ^= 0x5A }
        try expectRefused(badZip, isDamage)
        // Garbage after a complete zlib stream, a piece with no path separator, a trailing separator.
        let trailing = Array("files_metadata.json|//@@//|".utf8) + (try Zlib.compress(Self.emptyMetadata, level: 1)) + [1, 2, 3]
        try expectRefused(trailing, isDamage)
        try expectRefused(Array("no separator here".utf8), isDamage)
        try expectRefused(container + Array("|@@//@@|".utf8), isDamage)
        try expectRefused([], isDamage)
    }

    @Test("missing or hostile metadata")
    func metadata() throws {
        try expectRefused(try Self.container([("etc/client.keys", good)], metadata: nil)) { $0 == .missingMetadata }
        try expectRefused(try Self.zip([("etc/client.keys", good, .file)], metadata: nil)) { $0 == .missingMetadata }
        try expectRefused(try Self.container([], metadata: Array("[1, 2]".utf8))) {
            if case .invalidMetadata = $0 { true } else { false }
        }
        // Groups that would make a worker delete or write outside the items.
        let m = "{\"mod_time\": 1.0, \"cluster_item_key\": \"etc/shared/\", \"merged\": false, \"hash\": \"00\"}"
        let hostile = [
            ("{\"missing\": {}, \"extra\": {\"../../etc/passwd\": \(m)}, \"shared\": {}}", PackageError.unsafePath("../../etc/passwd", reason: "'..' component")),
            ("{\"extra\": {\"etc/client.keys\": \(m)}}", PackageError.wrongClusterItem(path: "etc/client.keys", key: "etc/shared/")),
            ("{\"etc/shared/ossec.conf\": \(m)}", PackageError.excludedFile("etc/shared/ossec.conf")),
            ("{\"etc/x\": \(m.replacingOccurrences(of: "etc/shared/", with: "etc/x/"))}", PackageError.wrongClusterItem(path: "etc/x", key: "etc/x/")),
        ]
        for (json, expected) in hostile {
            try expectRefused(try Self.container([], metadata: Array(json.utf8))) { $0 == expected }
        }
    }

    @Test("a symbolic link planted inside the target is not followed")
    func plantedLinkInTarget() throws {
        let package = try Self.container([("etc/shared/default/agent.conf", good)])
        try expectRefused(package, streamed: false, prepare: { sandbox in
            try FileManager.default.createSymbolicLink(atPath: sandbox.path + "/target/etc",
                                                       withDestinationPath: sandbox.path + "/outside")
        }) { if case .unsafeTarget = $0 { true } else { false } }
    }

    @Test("a valid package replaces a planted link at a file's place instead of writing through it")
    func plantedLinkAtFile() throws {
        let sandbox = TemporaryDirectory()
        sandbox.makeDirectory("target/etc")
        sandbox.write("outside/victim", "untouched")
        try FileManager.default.createSymbolicLink(atPath: sandbox.path + "/target/etc/client.keys",
                                                   withDestinationPath: sandbox.path + "/outside/victim")
        try PackageExtractor().extract(try Self.container([("etc/client.keys", good)]), into: sandbox.path + "/target")
        #expect(sandbox.read("outside/victim") == Array("untouched".utf8))
        #expect(sandbox.read("target/etc/client.keys") == good)
        let attributes = try FileManager.default.attributesOfItem(atPath: sandbox.path + "/target/etc/client.keys")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
    }
}
