/// The checks every package reader applies as entries arrive: a name is validated before any of its
/// content is decompressed, the decompression budget shrinks with each entry, and `files_metadata.json`
/// is kept aside rather than handed to the caller.
struct EntryChecker {
    let items: ClusterItems
    /// Decompressed bytes still allowed.
    private(set) var budget: Int
    private var seen: Set<String> = []
    private(set) var metadataBytes: [UInt8]?

    init(items: ClusterItems, budget: Int) {
        self.items = items
        self.budget = budget
    }

    /// Validates a name before its content is decompressed; returns how many bytes it may inflate to.
    mutating func accept(path: String) throws(PackageError) -> Int {
        guard seen.insert(path).inserted else { throw .duplicateEntry(path) }
        if path != IntegrityConstants.metadataEntryName,
           case .failure(let problem) = items.owner(of: path) {
            throw PackageError.entry(path, problem)
        }
        return budget
    }

    /// Counts an entry's content; returns the file to deliver, or nil for the metadata entry.
    mutating func take(path: String, content: [UInt8]) -> PackageFile? {
        budget -= content.count
        if path == IntegrityConstants.metadataEntryName {
            metadataBytes = content
            return nil
        }
        return PackageFile(path: path, content: content)
    }

    /// Parses the metadata and holds every path in it to the same rules as the entries, with the item it
    /// names: the groups tell a worker what to write and delete, so they are as dangerous as the files.
    func metadata() throws(PackageError) -> (PackageMetadata, [UInt8]) {
        guard let bytes = metadataBytes else { throw .missingMetadata }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw .invalidMetadata(error.description) }
        let metadata: PackageMetadata
        do {
            metadata = IntegrityDiff.isGroupObject(json) ? .sync(try IntegrityDiff(json: json))
                                                         : .node(try IntegrityMetadata(json: json))
        } catch { throw .invalidMetadata(error.description) }
        let groups: [IntegrityMetadata]
        switch metadata {
        case .node(let m): groups = [m]
        case .sync(let d): groups = [d.missing, d.extra, d.shared]
        }
        for group in groups {
            for (path, m) in group {
                if case .failure(let problem) = items.owner(of: path, declaredKey: m.clusterItemKey) {
                    throw PackageError.entry(path, problem)
                }
            }
        }
        return (metadata, bytes)
    }
}

/// Maps a zlib failure inside an entry to the package error that names it.
func packageError(_ error: ZlibError, entry path: String, budgetLimit: Int) -> PackageError {
    switch error {
    case .tooLarge: return .tooLarge(limit: budgetLimit)
    case .truncated: return .truncated("entry '\(path)': \(error)")
    default: return .corrupt("entry '\(path)': \(error)")
    }
}
