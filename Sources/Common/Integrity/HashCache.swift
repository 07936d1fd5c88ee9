/// Hashes from a previous scan, reused when a file's identity and timestamps have not changed, so a
/// rescan costs a `stat` per file instead of a read (4.8.1 keys its cache on `mod_time` alone; adding
/// size and inode catches a file replaced by another with the same mtime, e.g. by `rsync -t`).
public struct HashCache: Sendable {
    /// What identifies one version of a file.
    public struct Stamp: Equatable, Sendable {
        public var size: Int64
        public var modSeconds: Int
        public var modNanoseconds: Int
        public var inode: UInt64
        public var device: UInt64

        public init(size: Int64, modSeconds: Int, modNanoseconds: Int, inode: UInt64, device: UInt64) {
            self.size = size
            self.modSeconds = modSeconds
            self.modNanoseconds = modNanoseconds
            self.inode = inode
            self.device = device
        }
    }

    private var entries: [String: (stamp: Stamp, hash: String)] = [:]

    public init() {}

    public var count: Int { entries.count }

    /// The cached hash of `path` if it was taken from a file with this exact stamp.
    public func hash(for path: String, stamp: Stamp) -> String? {
        guard let entry = entries[path], entry.stamp == stamp else { return nil }
        return entry.hash
    }

    public mutating func store(_ hash: String, for path: String, stamp: Stamp) {
        entries[path] = (stamp, hash)
    }

    public mutating func reserveCapacity(_ n: Int) { entries.reserveCapacity(n) }
}
