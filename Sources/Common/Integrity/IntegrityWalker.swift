#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file the scan selected, with the `stat` facts the cache and the metadata need.
public struct WalkedFile: Sendable {
    /// Path relative to the home, no leading slash: the metadata key.
    public var path: String
    public var itemKey: String
    public var stamp: HashCache.Stamp
}

/// The names one directory contributes, in order, after the name rules; `stat` and hashing come later,
/// in parallel (`IntegrityScanner`).
public struct WalkBatch: Sendable {
    /// Directory relative to the home, no trailing slash, e.g. `etc/shared/default`.
    public var directory: String
    public var itemKey: String
    public var names: [String]
}

/// A problem with one file or directory that does not stop the scan (§5.1: errors are collected and the
/// walk goes on).
public struct ScanIssue: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// Gone between listing and reading (4.8.1 logs this at debug level only).
        case vanished
        /// Could not be read or listed.
        case unreadable
    }
    public var path: String
    public var kind: Kind
    public var reason: String

    public init(path: String, kind: Kind, reason: String) {
        self.path = path
        self.kind = kind
        self.reason = reason
    }

    init(path: String, errno e: Int32) {
        self.init(path: path, kind: e == ENOENT ? .vanished : .unreadable, reason: String(cString: strerror(e)))
    }

    public var description: String {
        switch kind {
        case .vanished: return "\(path) was deleted during the scan: \(reason)"
        case .unreadable: return "cannot read \(path): \(reason)"
        }
    }
}

/// Lists a node home's integrity files under the rules of PROTOCOL.md §5.1: each item's directory top
/// down (files of a directory before its subdirectories, names sorted so two scans agree), the top
/// directory only for non-recursive items, basename matching and exclusions, and nothing at all for a
/// missing directory. The walk only reads directories (`d_type` says what an entry is without a `stat`);
/// which names survive is decided here, their `stat` later. Symbolic links are passed on as candidates:
/// a link to a file counts as the file (Python's walk and `open` follow it), a link to a directory is
/// dropped later and never entered (`os.walk` does not follow it). Devices, FIFOs and sockets are
/// skipped rather than read.
public struct IntegrityWalker: Sendable {
    public var home: String
    public var items: ClusterItems

    public init(home: String, items: ClusterItems) {
        self.home = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        self.items = items
    }

    public func walk() -> (batches: [WalkBatch], issues: [ScanIssue]) {
        var batches: [WalkBatch] = []
        var issues: [ScanIssue] = []
        for item in items.items {
            walkDirectory(String(item.key.dropLast()), item: item, isTop: true, batches: &batches, issues: &issues)
        }
        return (batches, issues)
    }

    // d_type values (dirent.h); Glibc's enum does not import as usable constants on every platform.
    private static let typeUnknown: UInt8 = 0, typeDirectory: UInt8 = 4, typeRegular: UInt8 = 8, typeLink: UInt8 = 10

    private func walkDirectory(_ relative: String, item: ClusterItem, isTop: Bool,
                               batches: inout [WalkBatch], issues: inout [ScanIssue]) {
        guard let dir = opendir(home + "/" + relative) else {
            let e = errno
            // A missing item directory is normal (e.g. no var/multigroups yet): no files, no error.
            if isTop && (e == ENOENT || e == ENOTDIR) { return }
            issues.append(ScanIssue(path: relative + "/", errno: e))
            return
        }
        var files: [String] = []
        var subdirectories: [String] = []
        let fd = dirfd(dir)
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            var type = entry.pointee.d_type
            if type == Self.typeUnknown {
                // Some file systems do not fill d_type; ask without following links.
                var st = stat()
                guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: type = Self.typeDirectory
                case S_IFREG: type = Self.typeRegular
                case S_IFLNK: type = Self.typeLink
                default: continue
                }
            }
            switch type {
            case Self.typeDirectory:
                if item.recursive { subdirectories.append(name) }
            case Self.typeRegular, Self.typeLink:
                if !items.isExcluded(basename: name) && item.accepts(basename: name) { files.append(name) }
            default:
                continue
            }
        }
        closedir(dir)
        if !files.isEmpty {
            // String order (Unicode scalars of the canonical form: byte order for ASCII and NFC names) is
            // much cheaper than an explicit byte comparison, and only has to make two scans agree.
            files.sort()
            batches.append(WalkBatch(directory: relative, itemKey: item.key, names: files))
        }
        subdirectories.sort()
        for sub in subdirectories {
            walkDirectory(relative + "/" + sub, item: item, isTop: false, batches: &batches, issues: &issues)
        }
    }

    static func stamp(_ st: stat) -> HashCache.Stamp {
        #if canImport(Darwin)
        let mtime = st.st_mtimespec
        #else
        let mtime = st.st_mtim
        #endif
        return HashCache.Stamp(size: Int64(st.st_size), modSeconds: Int(mtime.tv_sec),
                               modNanoseconds: Int(mtime.tv_nsec), inode: UInt64(st.st_ino),
                               device: UInt64(st.st_dev))
    }
}
