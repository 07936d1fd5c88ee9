import Common
import Foundation
import Testing

/// Homes generated for the integrity suites: one generator of package-sized trees, and one of a master and
/// a worker that differ, with the diff between them.
enum IntegrityHomes {
    /// A home of `count` files of varied sizes (some compressible, some empty), spread over items and
    /// directories, and its metadata.
    static func generated(count: Int, seed: UInt64) -> (TemporaryDirectory, IntegrityMetadata) {
        let home = TemporaryDirectory()
        let dirs = ["etc/shared/default", "etc/shared/web", "etc/rules", "etc/decoders/d1", "etc/lists/amazon"]
        for i in 0..<count {
            let size = (i * 7919 + Int(seed)) % 9000
            let content = i % 3 == 0 ? Array(String(repeating: "<rule id=\"\(i)\"/>\n", count: size / 16).utf8)
                                     : randomBytes(i % 17 == 0 ? 0 : size, seed: seed &+ UInt64(i))
            home.write("\(dirs[i % dirs.count])/f\(i).xml", content)
        }
        home.write("etc/client.keys", "001 agent any 0123\n")
        return (home, scan(home))
    }

    /// A home holding these text files.
    static func home(_ files: [String: String]) -> TemporaryDirectory {
        let home = TemporaryDirectory()
        for (path, text) in files { home.write(path, text) }
        return home
    }

    /// The metadata of a fresh scan (no cache kept).
    static func scan(_ home: TemporaryDirectory) -> IntegrityMetadata {
        var cache = HashCache()
        return IntegrityScanner(home: home.path).scan(cache: &cache).metadata
    }

    /// A master home generated with `count` and `seed` plus `masterFiles`, a maker of identical worker
    /// homes holding `workerFiles`, and the diff of the master against such a worker.
    static func nodes(count: Int, seed: UInt64, master masterFiles: [String: String],
                      worker workerFiles: [String: String])
        -> (master: TemporaryDirectory, worker: () -> TemporaryDirectory, diff: IntegrityDiff) {
        let (master, _) = generated(count: count, seed: seed)
        for (path, text) in masterFiles { master.write(path, text) }
        let makeWorker = { home(workerFiles) }
        let worker = makeWorker()
        let diff = try! IntegrityComparison.compare(master: scan(master), worker: scan(worker))
        return (master, makeWorker, diff)
    }
}

extension TemporaryDirectory {
    /// What the home holds, by relative path: the regular files and their contents; with `directories`,
    /// every other path too (directories with empty content), so that a directory left behind shows.
    func tree(directories: Bool = false) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for relative in listing() {
            var st = stat()
            if directories || (lstat(path + "/" + relative, &st) == 0 && st.st_mode & S_IFMT == S_IFREG) {
                out[relative] = read(relative) ?? []
            }
        }
        return out
    }
}
