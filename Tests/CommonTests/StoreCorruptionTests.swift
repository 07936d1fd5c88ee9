import Foundation
import Testing
@testable import Common

/// A damaged or foreign file at the database path is reported, naming the path, and never rewritten.
@Suite struct StoreCorruptionTests {
    /// Writes `bytes` at the database path of a fresh home and returns the path.
    private func plant(_ bytes: Data, in dir: TemporaryDirectory) throws -> String {
        let path = StoreTest.dbPath(dir)
        try FileManager.default.createDirectory(atPath: dir.path + "/queue/db", withIntermediateDirectories: true)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Opens `path` expecting `kind`, and checks the file is byte-identical afterwards.
    private func expectRefused(_ path: String, kind: StoreError.Kind, mentioning text: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let before = StoreTest.bytes(path)
        let e = StoreTest.storeError({ _ = try AgentStore(path: path, nodeName: "master-node") },
                                     sourceLocation: sourceLocation)
        #expect(e?.kind == kind, "\(e.map(String.init(describing:)) ?? "nil")", sourceLocation: sourceLocation)
        #expect(e?.description.contains(path) == true, sourceLocation: sourceLocation)
        #expect(e?.description.contains(text) == true, "\(e?.description ?? "")", sourceLocation: sourceLocation)
        #expect(StoreTest.bytes(path) == before, "the file was modified", sourceLocation: sourceLocation)
    }

    @Test func garbageFile() throws {
        let dir = TemporaryDirectory()
        var g = SplitMix64(seed: 42)
        let path = try plant(Data(randomBytes(16384, using: &g)), in: dir)
        expectRefused(path, kind: .notADatabase, mentioning: "file is not a database")
    }

    @Test func textFile() throws {
        let dir = TemporaryDirectory()
        let path = try plant(Data("<ossec_config>not a database</ossec_config>\n".utf8), in: dir)
        expectRefused(path, kind: .notADatabase, mentioning: "file is not a database")
    }

    @Test func emptyFile() throws {
        let dir = TemporaryDirectory()
        let path = try plant(Data(), in: dir)
        expectRefused(path, kind: .notADatabase, mentioning: "empty")
    }

    @Test func directoryInTheWay() throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let e = StoreTest.storeError { _ = try AgentStore(path: path, nodeName: "n") }
        #expect(e?.kind == .cannotOpen)
        #expect(e?.description.contains("\(path): is a directory") == true)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    /// A real store, closed, then cut: the header survives but pages are missing.
    @Test(arguments: [0.5, 0.9]) func truncatedDatabase(keep fraction: Double) throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        try makeLargeStore(dir)
        let full = try #require(StoreTest.bytes(path))
        let cut = full.prefix(Int(Double(full.count) * fraction) / 4096 * 4096 + 1000)
        try cut.write(to: URL(fileURLWithPath: path))
        expectRefused(path, kind: .corrupt, mentioning: "malformed")
    }

    /// A store whose tree pages were overwritten in the middle.
    @Test func overwrittenPages() throws {
        let dir = TemporaryDirectory()
        let path = StoreTest.dbPath(dir)
        try makeLargeStore(dir)
        var bytes = try #require(StoreTest.bytes(path))
        var g = SplitMix64(seed: 7)
        let start = bytes.count / 2 / 4096 * 4096
        bytes.replaceSubrange(start..<start + 8192, with: randomBytes(8192, using: &g))
        try bytes.write(to: URL(fileURLWithPath: path))
        let before = StoreTest.bytes(path)
        let e = StoreTest.storeError { _ = try AgentStore(path: path, nodeName: "n") }
        #expect(e?.kind == .corrupt)
        #expect(e?.description.contains(path) == true)
        #expect(StoreTest.bytes(path) == before)
    }

    @Test func missingParentDirectoryIsCreated() throws {
        let dir = TemporaryDirectory()
        _ = try AgentStore.open(home: dir.path + "/deep/home", nodeName: "n")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/deep/home/queue/db/global.db"))
        // Nothing left behind from the build-then-link creation.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/deep/home/queue/db")
            .filter { $0.contains("creating") }
        #expect(leftovers.isEmpty)
    }

    @Test func unwritableLocationIsReported() throws {
        let e = StoreTest.storeError { _ = try AgentStore(path: "/proc/no-such-dir/global.db", nodeName: "n") }
        #expect(e?.kind == .cannotOpen)
        #expect(e?.description.contains("/proc/no-such-dir") == true)
    }

    /// About 2,000 agents with groups, closed cleanly (WAL checkpointed into the main file).
    private func makeLargeStore(_ dir: TemporaryDirectory) throws {
        try StoreTest.largeStore(dir, count: 2000) { ["default", "g\($0 % 7)"] }
    }
}
