#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a package's files (and its `files_metadata.json`) under a target directory.
///
/// The package is read and checked completely first, so a refused package writes nothing. Then every
/// directory below the target is opened one component at a time with `O_NOFOLLOW`: a symbolic link
/// planted inside the target cannot redirect a write elsewhere. Each file is written to a temporary name
/// beside its destination and renamed over it, so a reader never sees half a file.
public struct PackageExtractor: Sendable {
    public var reader: PackageReader

    public init(reader: PackageReader = PackageReader()) {
        self.reader = reader
    }

    @discardableResult
    public func extract(_ bytes: [UInt8], into directory: String) throws(PackageError) -> IntegrityPackage {
        let package = try reader.read(bytes)
        let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if root < 0 { throw .io(SystemCallError("open", path: directory, errno: errno)) }
        var directories = DirectoryCache(root: root, rootPath: directory)
        defer { directories.closeAll() }
        for file in package.files {
            let permissions = (try? reader.items.owner(of: file.path).get())?.permissions ?? 0o640
            try write(file.content, to: file.path, permissions: permissions, directories: &directories)
        }
        try write(package.metadataBytes, to: IntegrityConstants.metadataEntryName, permissions: 0o640,
                  directories: &directories)
        return package
    }

    private func write(_ content: [UInt8], to path: String, permissions: Int,
                       directories: inout DirectoryCache) throws(PackageError) {
        let components = path.split(separator: "/").map(String.init)
        let parent = try directories.open(components.dropLast())
        let name = components.last!
        let temporary = ".\(name).\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = openat(parent, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
        if fd < 0 { throw .io(SystemCallError("create", path: path, errno: errno)) }
        var renamed = false
        defer { if !renamed { unlinkat(parent, temporary, 0) } }
        do {
            try content.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) in try FileIO.writeAll(fd: fd, raw, path: path) }
            }.get()
        } catch {
            close(fd)
            throw .io(error)
        }
        fchmod(fd, mode_t(permissions))
        close(fd)
        // renameat replaces a link at the destination rather than following it; a directory there fails.
        if renameat(parent, temporary, parent, name) != 0 {
            throw .io(SystemCallError("rename to", path: path, errno: errno))
        }
        renamed = true
    }
}

/// Directory descriptors below the extraction root, opened without following links.
private struct DirectoryCache {
    let root: Int32
    let rootPath: String
    var opened: [String: Int32] = [:]

    init(root: Int32, rootPath: String) {
        self.root = root
        self.rootPath = rootPath
    }

    mutating func open(_ components: ArraySlice<String>) throws(PackageError) -> Int32 {
        var fd = root
        var sofar = ""
        for component in components {
            sofar += sofar.isEmpty ? component : "/" + component
            if let cached = opened[sofar] { fd = cached; continue }
            var child = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child < 0 && errno == ENOENT {
                if mkdirat(fd, component, 0o770) != 0 && errno != EEXIST {
                    throw .io(SystemCallError("mkdir", path: rootPath + "/" + sofar, errno: errno))
                }
                child = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if child < 0 {
                let e = errno
                if e == ELOOP || e == ENOTDIR {
                    throw .unsafeTarget("'\(rootPath)/\(sofar)' is a symbolic link or not a directory")
                }
                throw .io(SystemCallError("open", path: rootPath + "/" + sofar, errno: e))
            }
            opened[sofar] = child
            fd = child
        }
        return fd
    }

    func closeAll() {
        for fd in opened.values { close(fd) }
        close(root)
    }
}
