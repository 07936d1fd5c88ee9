#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file the walk selected, with the `stat` facts the cache and the metadata need.
public struct WalkedFile: Sendable {
    /// Path relative to the home, no leading slash: the metadata key.
    public var path: String
    public var itemKey: String
    public var stamp: HashCache.Stamp
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
/// missing directory. Symbolic links to files count as the file (Python's walk and `open` follow them);
/// links to directories are not entered (`os.walk` does not follow them), and devices, FIFOs and sockets
/// are skipped rather than read.
public struct IntegrityWalker: Sendable {
    public var home: String
    public var items: ClusterItems

    public init(home: String, items: ClusterItems) {
        self.home = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        self.items = items
    }

    public func walk() -> (files: [WalkedFile], issues: [ScanIssue]) {
        var files: [WalkedFile] = []
        var issues: [ScanIssue] = []
        var index: [String: Int] = [:]
        for item in items.items {
            let top = String(item.key.dropLast())  // "etc/shared"
            walkDirectory(relative: top, item: item, isTop: true) { file in
                // An overlapping later item takes the file over, as the Python dict update did.
                if let i = index[file.path] { files[i] = file } else { index[file.path] = files.count; files.append(file) }
            } issue: { issues.append($0) }
        }
        return (files, issues)
    }

    private func walkDirectory(relative: String, item: ClusterItem, isTop: Bool,
                               found: (WalkedFile) -> Void, issue: (ScanIssue) -> Void) {
        let absolute = home + "/" + relative
        guard let dir = opendir(absolute) else {
            let e = errno
            // A missing item directory is normal (e.g. no var/multigroups yet): no files, no error.
            if isTop && (e == ENOENT || e == ENOTDIR) { return }
            issue(ScanIssue(path: relative + "/", kind: e == ENOENT ? .vanished : .unreadable,
                            reason: String(cString: strerror(e))))
            return
        }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        names.sort()
        var subdirectories: [String] = []
        for name in names {
            let path = relative + "/" + name
            var st = stat()
            if fstatat(fd, name, &st, 0) != 0 {
                let e = errno
                issue(ScanIssue(path: path, kind: e == ENOENT ? .vanished : .unreadable,
                                reason: String(cString: strerror(e))))
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                if item.recursive && !isSymlink(fd: fd, name: name) { subdirectories.append(path) }
            case S_IFREG:
                guard !items.isExcluded(basename: name), item.accepts(basename: name) else { continue }
                found(WalkedFile(path: path, itemKey: item.key, stamp: Self.stamp(st)))
            default:
                continue
            }
        }
        for sub in subdirectories {
            walkDirectory(relative: sub, item: item, isTop: false, found: found, issue: issue)
        }
    }

    private func isSymlink(fd: Int32, name: String) -> Bool {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
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
