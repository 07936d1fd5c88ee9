/// Why a package could not be read, extracted or built. Each case names the entry or the limit, so a
/// log line says which file of which package was refused.
public enum PackageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Absolute path, `..`, empty component, NUL or backslash.
    case unsafePath(String, reason: String)
    /// An entry whose basename cluster.json excludes (`ossec.conf`, `*.swp`, …).
    case excludedFile(String)
    /// An entry no cluster item accepts.
    case outsideClusterItems(String)
    /// A metadata entry whose `cluster_item_key` is unknown or does not own its path.
    case wrongClusterItem(path: String, key: String)
    /// A symbolic link, hard link, device or other non-regular entry.
    case unsupportedEntryType(String, type: String)
    /// The same path twice.
    case duplicateEntry(String)
    /// Decompressed content beyond `max_zip_size` (zip bomb).
    case tooLarge(limit: Int)
    /// The package ends early.
    case truncated(String)
    /// The package or one entry is damaged.
    case corrupt(String)
    /// No `files_metadata.json` entry.
    case missingMetadata
    /// `files_metadata.json` is not metadata.
    case invalidMetadata(String)
    /// A package to apply whose `files_metadata.json` holds a node's metadata, not the three groups.
    case notSyncGroups
    /// An entry that cannot be written in the 4.8.1 container without a separator clash.
    case separatorCollision(String)
    /// A directory inside the extraction target is a symbolic link or a file.
    case unsafeTarget(String)
    /// A system call failed while reading or writing files.
    case io(SystemCallError)
    /// The zip writer (minizip) failed.
    case archive(String)
    /// The package was read while it was being received, and the transfer failed or was given up.
    case transferFailed(String)
    /// The consumer of a package being written stopped taking it (the receiver cancelled the task).
    case cancelled

    public var description: String {
        switch self {
        case let .unsafePath(path, reason): return "package entry '\(path)' refused: \(reason)"
        case .excludedFile(let path): return "package entry '\(path)' refused: excluded file"
        case .outsideClusterItems(let path): return "package entry '\(path)' refused: not part of any cluster item"
        case let .wrongClusterItem(path, key):
            return "package metadata for '\(path)' refused: not part of cluster item '\(key)'"
        case let .unsupportedEntryType(path, type): return "package entry '\(path)' refused: \(type) entries are not allowed"
        case .duplicateEntry(let path): return "package entry '\(path)' refused: duplicate entry"
        case .tooLarge(let limit): return "package refused: decompressed content exceeds \(limit) bytes"
        case .truncated(let what): return "package is truncated: \(what)"
        case .corrupt(let what): return "package is corrupt: \(what)"
        case .missingMetadata: return "package has no \(IntegrityConstants.metadataEntryName)"
        case .invalidMetadata(let reason): return "package \(IntegrityConstants.metadataEntryName) is invalid: \(reason)"
        case .notSyncGroups:
            return "package \(IntegrityConstants.metadataEntryName) holds a node's metadata, not the missing, extra and shared groups"
        case .separatorCollision(let path): return "'\(path)' cannot be stored in a 4.8.1 package: its bytes contain a separator"
        case .unsafeTarget(let what): return "refusing to extract: \(what)"
        case .io(let e): return e.description
        case .archive(let m): return "zip writer failed: \(m)"
        case .transferFailed(let why): return "package transfer failed: \(why)"
        case .cancelled: return "package writing stopped: its receiver no longer takes it"
        }
    }

    /// Maps a path-rule failure to the error that names the entry.
    static func entry(_ path: String, _ problem: ItemPathProblem) -> PackageError {
        switch problem {
        case .unsafe(let reason): return .unsafePath(path, reason: reason)
        case .excluded: return .excludedFile(path)
        case .outsideItems: return .outsideClusterItems(path)
        case .unknownItem(let key), .notInItem(let key): return .wrongClusterItem(path: path, key: key)
        }
    }
}

/// The two package formats (DESIGN.md "Package formats").
public enum PackageFormat: String, Sendable, CaseIterable {
    /// A real zip archive (deflate; written with minizip, read with libarchive): between clusterd nodes.
    case zip
    /// The 4.8.1 container of zlib entries and separators (PROTOCOL.md §5.3): with Wazuh peers.
    case wazuh

    /// Zip archives start with a local file header or, when empty, the end-of-central-directory record;
    /// a 4.8.1 container starts with a relative path, which never begins with "PK\u{3}\u{4}".
    public static func detect(_ bytes: [UInt8]) -> PackageFormat {
        guard bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B else { return .wazuh }
        return (bytes[2] == 3 && bytes[3] == 4) || (bytes[2] == 5 && bytes[3] == 6) ? .zip : .wazuh
    }
}
