@testable import Common
import Foundation
import Testing

/// A package staged while it is still being received, and a package written while it is being sent:
/// the two halves of the pipelined integrity sync.
@Suite("Integrity packages in flight")
struct IntegrityIncomingPackageTests {
    /// Writes `bytes` into the incoming file's path in uneven pieces from another thread, reporting each
    /// piece, then ends the transfer as `end` says: `nil` completes it, a reason fails it after `cut` bytes.
    static func receive(_ bytes: [UInt8], into file: IncomingFile, failingAfter cut: Int? = nil, seed: UInt64 = 1) -> Thread {
        let thread = Thread {
            let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o640)
            var generator = SplitMix64(seed: seed)
            var offset = 0
            let limit = cut ?? bytes.count
            while offset < limit {
                let n = min(limit - offset, Int.random(in: 1...200_000, using: &generator))
                _ = bytes[offset..<offset + n].withUnsafeBytes { write(fd, $0.baseAddress, n) }
                offset += n
                file.advance(by: n)
                if Int.random(in: 0..<4, using: &generator) == 0 { usleep(500) }
            }
            close(fd)
            if cut != nil { file.fail("connection closed before the end") } else { file.complete() }
        }
        thread.start()
        return thread
    }

    /// A master of 400 generated files and a worker with one of them changed and one extra file, and the
    /// worker's sync package from that master.
    static let nodes = (master: ["etc/shared/default/agent.conf": "new\n"],
                        worker: ["etc/rules/stale.xml": "<stale/>\n", "etc/shared/default/agent.conf": "old\n"])

    static func worker() -> TemporaryDirectory { IntegrityHomes.home(nodes.worker) }

    static func package(_ format: PackageFormat) throws -> (master: TemporaryDirectory, diff: IntegrityDiff, bytes: [UInt8]) {
        let (master, _, diff) = IntegrityHomes.nodes(count: 400, seed: 21, master: nodes.master, worker: nodes.worker)
        // Everything is missing on the worker but the changed file; the stale one is extra.
        #expect(diff.missing.count == IntegrityHomes.scan(master).count - 1 && diff.shared.count == 1 && diff.extra.count == 1)
        return (master, diff, try PackageWriter(format: format, home: master.path).syncPackage(diff).bytes)
    }

    @Test("staged while it arrives, then committed: the same tree and result as applied from its file",
          arguments: PackageFormat.allCases)
    func stagedWhileArriving(format: PackageFormat) throws {
        let (_, _, bytes) = try Self.package(format)
        let dir = TemporaryDirectory()
        dir.write("package", bytes)
        let reference = Self.worker()
        let expected = try PackageApplier(home: reference.path).apply(packageFile: dir.path + "/package", budget: 1 << 30)
        #expect(!expected.hasErrors && expected.removed == ["etc/rules/stale.xml"])

        let home = Self.worker()
        let before = home.tree()
        let file = IncomingFile(path: dir.path + "/incoming")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let sender = Self.receive(bytes, into: file)
        let applier = PackageApplier(home: home.path)
        let staged = try applier.stage(incoming: file, budget: 1 << 30)
        withExtendedLifetime(sender) {}
        #expect(file.state.end == .complete && file.state.received == bytes.count)
        // Staged: nothing visible yet but temporary files.
        let visible = home.tree().filter { !$0.key.hasSuffix(PackageApplier.temporarySuffix) }
        #expect(visible == before)
        #expect(home.tree().keys.contains { $0.hasSuffix(PackageApplier.temporarySuffix) })

        let result = try applier.commit(staged, removingPackage: file.path)
        #expect(result == expected)
        #expect(home.tree() == reference.tree())
        #expect(!FileManager.default.fileExists(atPath: file.path), "the package file goes before the flush")
        // Settled: a late discard or a second commit changes nothing.
        applier.discard(staged)
        #expect(try applier.commit(staged) == ApplyResult())
        #expect(home.tree() == reference.tree())
    }

    @Test("a transfer that fails midway leaves the home as it was", arguments: PackageFormat.allCases)
    func transferFailsMidway(format: PackageFormat) throws {
        let (_, _, bytes) = try Self.package(format)
        let dir = TemporaryDirectory()
        let home = Self.worker()
        let before = home.tree()
        let file = IncomingFile(path: dir.path + "/incoming")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let sender = Self.receive(bytes, into: file, failingAfter: bytes.count / 2)
        #expect {
            _ = try PackageApplier(home: home.path).stage(incoming: file, budget: 1 << 30)
        } throws: { error in
            (error as? PackageError) == .transferFailed("connection closed before the end")
        }
        withExtendedLifetime(sender) {}
        #expect(home.tree() == before)
        #expect(home.listing().allSatisfy { !$0.hasPrefix("etc/decoders") && !$0.hasPrefix("etc/lists") })
    }

    @Test("a consumer that gives up wakes the staging, which removes what it wrote")
    func cancelledByConsumer() throws {
        let (_, _, bytes) = try Self.package(.zip)
        let dir = TemporaryDirectory()
        dir.write("incoming", Array(bytes.prefix(bytes.count / 3)))
        let home = Self.worker()
        let before = home.tree()
        let file = IncomingFile(path: dir.path + "/incoming")
        file.advance(by: bytes.count / 3)  // and no more ever arrives
        // The consumer gives up once the staging has taken all that arrived and waits for the rest.
        let consumer = Thread {
            file.waitForBlockedReader()
            file.cancel("the master named another package")
        }
        consumer.start()
        #expect(throws: PackageError.transferFailed("the master named another package")) {
            _ = try PackageApplier(home: home.path).stage(incoming: file, budget: 1 << 30)
        }
        file.cancel("test over")  // ends the consumer's wait should the staging have stopped without waiting
        #expect(home.tree() == before)
    }

    @Test("a zip that arrives whole but without its central directory is refused")
    func zipWithoutCentralDirectory() throws {
        let (_, _, bytes) = try Self.package(.zip)
        // The central directory starts at the last local-header-free "PK\u{1}\u{2}" record.
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let start = try #require((0...(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == signature })
        let dir = TemporaryDirectory()
        let cut = Array(bytes.prefix(start))
        dir.write("incoming", cut)
        let home = Self.worker()
        let before = home.tree()
        let file = IncomingFile(path: dir.path + "/incoming")
        file.advance(by: cut.count)
        file.complete()
        #expect(throws: PackageError.self) { _ = try PackageApplier(home: home.path).stage(incoming: file, budget: 1 << 30) }
        #expect(home.tree() == before)
    }

    @Test("a package written while it is sent arrives in chunks of the asked size and equals the file build",
          arguments: PackageFormat.allCases)
    func streamedBuild(format: PackageFormat) throws {
        let (master, diff, _) = try Self.package(format)
        var writer = PackageWriter(format: format, home: master.path)
        writer.metadataModTime = 1_700_000_000
        let whole = try writer.syncPackage(diff)
        final class Chunks: @unchecked Sendable { var list: [[UInt8]] = [] }
        let chunks = Chunks()
        let streamed = try writer.syncPackage(diff, chunkSize: 65_536) { chunks.list.append($0) }
        #expect(chunks.list.dropLast().allSatisfy { $0.count == 65_536 })
        #expect(!chunks.list.isEmpty && chunks.list.last!.count <= 65_536)
        #expect(Array(chunks.list.joined()) == whole.bytes)
        #expect(streamed.bytes.isEmpty && streamed.size == whole.bytes.count && streamed.diff == whole.diff)
    }

    @Test("a consumer that stops taking the package stops the writer with .cancelled, leaving no file")
    func streamedBuildStopped() throws {
        let (master, diff, _) = try Self.package(.zip)
        var taken = 0
        #expect(throws: PackageError.cancelled) {
            _ = try PackageWriter(format: .zip, home: master.path).syncPackage(diff, chunkSize: 4096) { (_: [UInt8]) throws(PackageError) in
                taken += 1
                if taken == 3 { throw .cancelled }
            }
        }
        #expect(taken == 3)
    }

    @Test("incompressible zip entries are stored, text is deflated, and both read back")
    func incompressibleEntriesStored() throws {
        let home = TemporaryDirectory()
        let random = randomBytes(50_000, seed: 5)
        let text = Array(String(repeating: "<rule id=\"100\" level=\"3\"/>\n", count: 2000).utf8)
        home.write("etc/rules/random.bin", random)
        home.write("etc/rules/text.xml", text)
        var cache = HashCache()
        let metadata = IntegrityScanner(home: home.path).scan(cache: &cache).metadata
        let dir = TemporaryDirectory()
        _ = try PackageWriter(format: .zip, home: home.path).syncPackage(IntegrityDiff(missing: metadata), toFile: dir.path + "/p.zip")
        let listing = try run("/usr/bin/unzip", ["-v", dir.path + "/p.zip"])
        let lines = listing.stdoutText.split(separator: "\n")
        #expect(lines.contains { $0.contains("Stored") && $0.hasSuffix("etc/rules/random.bin") }, "\(listing.stdoutText)")
        #expect(lines.contains { $0.contains("Defl") && $0.hasSuffix("etc/rules/text.xml") }, "\(listing.stdoutText)")
        #expect(try run("/usr/bin/unzip", ["-tq", dir.path + "/p.zip"]).status == 0)
        let package = try PackageReader().read(try #require(dir.read("p.zip")))
        #expect(package.files.first { $0.path == "etc/rules/random.bin" }?.content == random)
        #expect(package.files.first { $0.path == "etc/rules/text.xml" }?.content == text)

        #expect(random.withUnsafeBytes { ByteEntropy.looksIncompressible($0) })
        #expect(!text.withUnsafeBytes { ByteEntropy.looksIncompressible($0) })
        #expect(!Array(random.prefix(1000)).withUnsafeBytes { ByteEntropy.looksIncompressible($0) }, "small files are deflated")
        #expect([UInt8](repeating: 7, count: 5000).withUnsafeBytes { ByteEntropy.bitsPerByte($0) } == 0)
    }
}
