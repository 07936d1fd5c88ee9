/// Reading and writing the `files` section in cluster.json's shape, so an operator can override the
/// stock items with a file (`integrity-scan --items FILE`). The file replaces the whole section: a merge
/// could not remove a stock item.
extension ClusterItems {
    /// Accepts either the `files` object itself or a whole cluster.json that contains one.
    public init(json: JSONValue) throws(ClusterItemsError) {
        guard var section = json.objectValue else { throw .invalid("the items file must hold a JSON object") }
        if let files = section["files"]?.objectValue, section["excluded_files"] == nil { section = files }
        var items: [ClusterItem] = []
        var excludedFiles: [String] = []
        var excludedExtensions: [String] = []
        for (key, value) in section {
            switch key {
            case "excluded_files": excludedFiles = try Self.strings(value, "excluded_files")
            case "excluded_extensions": excludedExtensions = try Self.strings(value, "excluded_extensions")
            default: items.append(try Self.item(key: key, value))
            }
        }
        self.init(items: items, excludedFiles: excludedFiles, excludedExtensions: excludedExtensions)
    }

    /// Loads an items file from disk.
    public static func load(path: String) throws(ClusterItemsError) -> ClusterItems {
        let bytes: [UInt8]
        do { bytes = try FileIO.readAll(path: path) } catch { throw .unreadable(path: path, reason: error.description) }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw .invalid("\(path): \(error)") }
        do { return try ClusterItems(json: value) } catch { throw .invalid("\(path): \(error.description)") }
    }

    /// The section as cluster.json writes it.
    public var json: JSONValue {
        var o = JSONObject()
        for item in items { o[item.key] = item.json }
        o["excluded_files"] = .array(excludedFiles.map { .string($0) })
        o["excluded_extensions"] = .array(excludedExtensions.map { .string($0) })
        return .object(o)
    }

    private static func strings(_ value: JSONValue, _ field: String) throws(ClusterItemsError) -> [String] {
        guard let array = value.arrayValue else { throw .invalid("'\(field)' must be a list of strings") }
        var out: [String] = []
        for element in array {
            guard let s = element.stringValue else { throw .invalid("'\(field)' must be a list of strings") }
            out.append(s)
        }
        return out
    }

    private static func item(key: String, _ value: JSONValue) throws(ClusterItemsError) -> ClusterItem {
        guard let o = value.objectValue else { throw .invalid("item '\(key)' must be an object") }
        // The key is joined to the home and compared byte-wise with walked paths, so it must be a plain
        // relative directory ending in '/'.
        guard key.hasSuffix("/"), RelativePath.problem(in: String(key.dropLast())) == nil else {
            throw .invalid("item key '\(key)' must be a relative directory ending in '/'")
        }
        guard let filesValue = o["files"] else { throw .invalid("item '\(key)' has no 'files' list") }
        let files = try strings(filesValue, "\(key).files")
        func flag(_ name: String) throws(ClusterItemsError) -> Bool {
            guard let v = o[name] else { return false }
            guard let b = v.boolValue else { throw .invalid("'\(key).\(name)' must be true or false") }
            return b
        }
        var permissions = 0o660
        if let p = o["permissions"] {
            if let i = p.intValue, p.stringValue == nil {
                permissions = Int(i)
            } else if let s = p.stringValue, let parsed = parsePythonInt(s) {
                permissions = parsed
            } else {
                throw .invalid("'\(key).permissions' must be an integer or a string such as \"0o660\"")
            }
            guard (0...0o7777).contains(permissions) else { throw .invalid("'\(key).permissions' is not a file mode") }
        }
        func name(_ field: String) throws(ClusterItemsError) -> String {
            guard let v = o[field] else { return ClusterItem.defaultOwner }
            guard let s = v.stringValue, !s.isEmpty, !s.contains(":") else {
                throw .invalid("'\(key).\(field)' must be a user or group name")
            }
            return s
        }
        return ClusterItem(key: key, files: files, recursive: try flag("recursive"), permissions: permissions,
                           owner: try name("owner"), group: try name("group"),
                           removeSubdirsIfEmpty: try flag("remove_subdirs_if_empty"),
                           extraValid: try flag("extra_valid"), restart: try flag("restart"),
                           source: o["source"]?.stringValue ?? "master",
                           description: o["description"]?.stringValue ?? "")
    }

    /// Python's `int(s, 0)`: `0o`/`0x`/`0b` prefixes or plain decimal without leading zeros, `_` between
    /// digits. That is how 4.8.1 reads `permissions`, so "0640" is refused as it is there.
    static func parsePythonInt(_ text: String) -> Int? {
        var s = Substring(text.trimmingASCIISpaces())
        var sign = 1
        if s.hasPrefix("-") { sign = -1; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        var radix = 10
        let lower = s.lowercased()
        if lower.hasPrefix("0o") { radix = 8 } else if lower.hasPrefix("0x") { radix = 16 } else if lower.hasPrefix("0b") { radix = 2 }
        if radix != 10 { s = s.dropFirst(2); if s.hasPrefix("_") { s = s.dropFirst() } }
        guard !s.isEmpty, !s.hasPrefix("_"), !s.hasSuffix("_"), !s.contains("__") else { return nil }
        let digits = s.replacingUnderscores()
        if radix == 10, digits.count > 1, digits.hasPrefix("0"), digits.contains(where: { $0 != "0" }) { return nil }
        guard let v = Int(digits, radix: radix) else { return nil }
        return sign * v
    }
}

private extension StringProtocol {
    func trimmingASCIISpaces() -> SubSequence {
        var s = self[...]
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s = s.dropLast() }
        return s
    }
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}

/// A cluster items file that could not be used.
public enum ClusterItemsError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read cluster items file \(path): \(reason)"
        case .invalid(let reason): return "invalid cluster items: \(reason)"
        }
    }
}
