/// Checks on a home-relative path taken from a package or a metadata key, before it is joined to a
/// directory. Everything that could name a place outside that directory is refused, whatever the later
/// cluster-item check would say, so a path that passes can be joined without resolving anything.
public enum RelativePath {
    /// Longest path accepted (Linux `PATH_MAX`).
    public static let maxLength = 4096

    /// Why `path` is unsafe as a relative path, or nil when it is a plain `a/b/c` path.
    public static func problem(in path: String) -> String? {
        if path.isEmpty { return "empty path" }
        if path.utf8.count > maxLength { return "longer than \(maxLength) bytes" }
        if path.utf8.first == UInt8(ascii: "/") { return "absolute path" }
        if path.utf8.contains(0) { return "contains a NUL byte" }
        // A backslash is a separator for Windows-made archives; refusing it keeps one reading of the path.
        if path.utf8.contains(UInt8(ascii: "\\")) { return "contains a backslash" }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            switch component {
            case "": return "empty path component"
            case ".": return "'.' component"
            case "..": return "'..' component"
            default: continue
            }
        }
        return nil
    }

    /// The last component of a relative path.
    public static func basename(_ path: String) -> Substring {
        if let slash = path.lastIndex(of: "/") { return path[path.index(after: slash)...] }
        return path[...]
    }
}
