/// One element of a Wazuh-style XML configuration file.
public struct ConfigXMLElement: Equatable, Sendable {
    public var name: String
    public var attributes: [String: String]
    /// The element's own text (not its children's), entities decoded, surrounding whitespace trimmed.
    public var text: String
    public var children: [ConfigXMLElement]
    /// 1-based line of the opening tag, so errors can point at it.
    public var line: Int

    public init(name: String, attributes: [String: String] = [:], text: String = "", children: [ConfigXMLElement] = [], line: Int = 0) {
        self.name = name
        self.attributes = attributes
        self.text = text
        self.children = children
        self.line = line
    }

    /// Direct children with this element name, in document order.
    public func children(named name: String) -> [ConfigXMLElement] { children.filter { $0.name == name } }
}

/// A malformed configuration file: the line and what is wrong there.
public struct ConfigXMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// A small tolerant XML reader for `ossec.conf`.
///
/// Wazuh's own reader accepts files that a strict XML parser rejects: several `<ossec_config>` roots, text
/// between them, no XML declaration. FoundationXML would need the file wrapped in a synthetic root and still
/// reports errors by byte offset in the wrapped text, so the cluster code reads the file itself. Supported:
/// elements with attributes, self-closing tags, comments, `<?…?>` declarations, `<!…>` directives, CDATA,
/// the five predefined entities and numeric character references.
public enum ConfigXMLReader {
    /// Deepest element nesting accepted. Wazuh's files nest a few levels; the reader recurses per level, so
    /// without a bound a file of `<a><a><a>…` exhausts the stack and kills the process instead of getting
    /// an error (found by `make fuzz`'s fuzz-config).
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(ConfigXMLError) -> [ConfigXMLElement] {
        var cursor = Cursor(bytes: Array(text.utf8))
        return try cursor.document()
    }

    struct Cursor {
        let bytes: [UInt8]
        var i = 0
        var line = 1

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ reason: String) -> ConfigXMLError { ConfigXMLError(line: line, reason: reason) }

        func starts(with s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= bytes.count && Array(bytes[i..<i + u.count]) == u
        }

        mutating func advance(_ n: Int = 1) {
            for _ in 0..<n where i < bytes.count {
                if bytes[i] == 0x0A { line += 1 }
                i += 1
            }
        }

        /// Moves past `terminator`, failing with `what` if the input ends first.
        mutating func skip(past terminator: String, what: String) throws(ConfigXMLError) {
            let startLine = line
            while i < bytes.count {
                if starts(with: terminator) { advance(terminator.utf8.count); return }
                advance()
            }
            throw ConfigXMLError(line: startLine, reason: "\(what) is not closed")
        }

        /// Reads top-level content: elements are kept; text, comments and declarations between them are not.
        mutating func document() throws(ConfigXMLError) -> [ConfigXMLElement] {
            var roots: [ConfigXMLElement] = []
            while i < bytes.count {
                if bytes[i] != UInt8(ascii: "<") { advance(); continue }
                if starts(with: "<![CDATA[") { try skip(past: "]]>", what: "CDATA section"); continue }
                if try skipMarkup() { continue }
                if starts(with: "</") { throw fail("closing tag without a matching opening tag") }
                roots.append(try element(depth: 1))
            }
            return roots
        }

        /// Skips a comment, declaration or directive at `<`. Returns false when `<` opens a tag.
        mutating func skipMarkup() throws(ConfigXMLError) -> Bool {
            if starts(with: "<!--") { try skip(past: "-->", what: "comment"); return true }
            if starts(with: "<?") { try skip(past: "?>", what: "processing instruction"); return true }
            if starts(with: "<![CDATA[") { return false }
            if starts(with: "<!") { try skip(past: ">", what: "directive"); return true }
            return false
        }

        mutating func name() throws(ConfigXMLError) -> String {
            let start = i
            while i < bytes.count, !Self.isSpace(bytes[i]), bytes[i] != UInt8(ascii: ">"), bytes[i] != UInt8(ascii: "/"),
                  bytes[i] != UInt8(ascii: "=") {
                advance()
            }
            guard i > start else { throw fail("expected an element name") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func skipSpace() {
            while i < bytes.count, Self.isSpace(bytes[i]) { advance() }
        }

        static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

        /// Parses one element starting at its `<`; `depth` is 1 for a root element.
        mutating func element(depth: Int) throws(ConfigXMLError) -> ConfigXMLElement {
            let openLine = line
            advance()  // <
            var node = ConfigXMLElement(name: try name(), line: openLine)
            // Attributes.
            while true {
                skipSpace()
                guard i < bytes.count else { throw ConfigXMLError(line: openLine, reason: "tag <\(node.name)> is not closed") }
                if starts(with: "/>") { advance(2); return node }
                if bytes[i] == UInt8(ascii: ">") { advance(); break }
                let key = try name()
                skipSpace()
                var value = ""
                if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                    advance()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                        throw fail("attribute '\(key)' of <\(node.name)> needs a quoted value")
                    }
                    let quote = bytes[i]
                    advance()
                    let start = i
                    while i < bytes.count, bytes[i] != quote { advance() }
                    guard i < bytes.count else { throw ConfigXMLError(line: openLine, reason: "attribute '\(key)' of <\(node.name)> is not closed") }
                    value = try Self.decodeEntities(Array(bytes[start..<i]), line: line)
                    advance()
                }
                node.attributes[key] = value
            }
            // Content: raw text is entity-decoded piece by piece; CDATA is kept verbatim.
            var text = ""
            var raw: [UInt8] = []
            while true {
                guard i < bytes.count else { throw ConfigXMLError(line: openLine, reason: "element <\(node.name)> is not closed") }
                if bytes[i] != UInt8(ascii: "<") { raw.append(bytes[i]); advance(); continue }
                text += try Self.decodeEntities(raw, line: line)
                raw = []
                if starts(with: "<![CDATA[") {
                    advance(9)
                    let start = i
                    try skip(past: "]]>", what: "CDATA section")
                    text += String(decoding: bytes[start..<(i - 3)], as: UTF8.self)
                    continue
                }
                if try skipMarkup() { continue }
                if starts(with: "</") {
                    advance(2)
                    let closing = try name()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("closing tag </\(closing)> is not closed") }
                    advance()
                    guard closing == node.name else {
                        throw fail("closing tag </\(closing)> does not match <\(node.name)> opened on line \(openLine)")
                    }
                    break
                }
                guard depth < ConfigXMLReader.maxDepth else {
                    throw fail("elements nested more than \(ConfigXMLReader.maxDepth) levels deep (inside <\(node.name)> opened on line \(openLine))")
                }
                node.children.append(try element(depth: depth + 1))
            }
            node.text = text.trimmingSpaces()
            return node
        }

        static func decodeEntities(_ raw: [UInt8], line: Int) throws(ConfigXMLError) -> String {
            guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
            var out: [UInt8] = []
            var k = 0
            while k < raw.count {
                guard raw[k] == UInt8(ascii: "&") else { out.append(raw[k]); k += 1; continue }
                guard let end = raw[k...].firstIndex(of: UInt8(ascii: ";")), end - k <= 12 else {
                    // A bare '&' is kept as is: Wazuh's reader does not reject it either.
                    out.append(raw[k]); k += 1; continue
                }
                let entity = String(decoding: raw[(k + 1)..<end], as: UTF8.self)
                let replacement: String
                switch entity {
                case "lt": replacement = "<"
                case "gt": replacement = ">"
                case "amp": replacement = "&"
                case "quot": replacement = "\""
                case "apos": replacement = "'"
                default:
                    let number: UInt32?
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") { number = UInt32(entity.dropFirst(2), radix: 16) }
                    else if entity.hasPrefix("#") { number = UInt32(entity.dropFirst()) }
                    else { number = nil }
                    guard let number, let scalar = Unicode.Scalar(number) else {
                        throw ConfigXMLError(line: line, reason: "unknown entity '&\(entity);'")
                    }
                    replacement = String(Character(scalar))
                }
                out.append(contentsOf: replacement.utf8)
                k = end + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension String {
    /// Trims ASCII whitespace at both ends (what Wazuh's reader strips from element text).
    func trimmingSpaces() -> String {
        let u = Array(utf8)
        var a = 0, b = u.count
        while a < b, ConfigXMLReader.Cursor.isSpace(u[a]) { a += 1 }
        while b > a, ConfigXMLReader.Cursor.isSpace(u[b - 1]) { b -= 1 }
        return String(decoding: u[a..<b], as: UTF8.self)
    }
}
