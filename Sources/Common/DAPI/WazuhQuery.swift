/// The API's query language (`q`): conditions `field<op>value` joined by `;` (and) and `,` (or), with
/// parentheses. `;` binds tighter than `,`, as in SQL, so `a=1,b=2;c=3` is `a=1 OR (b=2 AND c=3)`.
///
/// Operators: `=`, `!=`, `<`, `>`, `~` (contains). A field is letters, digits, `_` and `.` (`os.name`);
/// a value runs to the next `;`, `,` or `)` and may be empty. Parsing yields a tree; translating it to SQL
/// is the caller's (`sql(_:)`), which gets one condition at a time and returns a parameterized fragment:
/// values are never spliced into SQL text.
public indirect enum WazuhQuery: Equatable, Sendable {
    case condition(field: String, op: Operator, value: String)
    case and([WazuhQuery])
    case or([WazuhQuery])

    public enum Operator: String, Sendable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case greater = ">"
        case like = "~"
    }

    /// Limits that keep a hostile `q` from costing more than a normal one.
    public static let maxLength = 16_384
    public static let maxDepth = 32
    public static let maxConditions = 256

    /// Parses `text`; a malformed query is `WazuhError(1407)` naming the problem and its position, an
    /// unknown operator `WazuhError(1409)`.
    public static func parse(_ text: String) throws(WazuhException) -> WazuhQuery {
        guard text.utf8.count <= maxLength else {
            throw invalid(text, "it is longer than \(maxLength) bytes")
        }
        var p = Parser(text: text, bytes: Array(text.utf8))
        let tree = try p.parseOr(depth: 0)
        if p.position < p.bytes.count {
            throw invalid(text, "unexpected '\(Character(UnicodeScalar(p.bytes[p.position])))' at position \(p.position + 1)")
        }
        return tree
    }

    static func invalid(_ text: String, _ why: String) -> WazuhException {
        .error(1407, "query '\(text)' is not valid: \(why)")
    }

    /// The fields the query names, in order of appearance.
    public var fields: [String] {
        switch self {
        case .condition(let f, _, _): return [f]
        case .and(let xs), .or(let xs): return xs.flatMap(\.fields)
        }
    }

    /// A parameterized SQL boolean expression: `condition` translates one condition (throwing for an
    /// unknown field or a value the field cannot take), groups are parenthesized and joined.
    public func sql<V>(_ condition: (String, Operator, String) throws(WazuhException) -> (String, [V]))
        throws(WazuhException) -> (String, [V])
    {
        switch self {
        case .condition(let f, let op, let v):
            let (s, values) = try condition(f, op, v)
            return ("(\(s))", values)
        case .and(let xs), .or(let xs):
            let joiner: String
            if case .and = self { joiner = " AND " } else { joiner = " OR " }
            var parts: [String] = []
            var values: [V] = []
            for x in xs {
                let (s, v) = try x.sql(condition)
                parts.append(s)
                values += v
            }
            return ("(" + parts.joined(separator: joiner) + ")", values)
        }
    }

    private struct Parser {
        let text: String
        let bytes: [UInt8]
        var position = 0
        var conditions = 0

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func parseOr(depth: Int) throws(WazuhException) -> WazuhQuery {
            var terms = [try parseAnd(depth: depth)]
            while peek == UInt8(ascii: ",") {
                position += 1
                terms.append(try parseAnd(depth: depth))
            }
            return terms.count == 1 ? terms[0] : .or(terms)
        }

        mutating func parseAnd(depth: Int) throws(WazuhException) -> WazuhQuery {
            var terms = [try parseTerm(depth: depth)]
            while peek == UInt8(ascii: ";") {
                position += 1
                terms.append(try parseTerm(depth: depth))
            }
            return terms.count == 1 ? terms[0] : .and(terms)
        }

        mutating func parseTerm(depth: Int) throws(WazuhException) -> WazuhQuery {
            if peek == UInt8(ascii: "(") {
                guard depth < WazuhQuery.maxDepth else {
                    throw WazuhQuery.invalid(text, "parentheses nest deeper than \(WazuhQuery.maxDepth)")
                }
                let open = position
                position += 1
                let inner = try parseOr(depth: depth + 1)
                guard peek == UInt8(ascii: ")") else {
                    throw WazuhQuery.invalid(text, "the '(' at position \(open + 1) is not closed")
                }
                position += 1
                return inner
            }
            let start = position
            while let c = peek, Self.isFieldByte(c) { position += 1 }
            guard position > start else {
                if let c = peek {
                    throw WazuhQuery.invalid(text, "expected a field name at position \(position + 1), found '\(Character(UnicodeScalar(c)))'")
                }
                throw WazuhQuery.invalid(text, "expected a field name at the end")
            }
            let field = String(decoding: bytes[start..<position], as: UTF8.self)
            let op: Operator
            switch peek {
            case UInt8(ascii: "=")?: op = .equal; position += 1
            case let c? where (c == UInt8(ascii: "<") || c == UInt8(ascii: ">")) && position + 1 < bytes.count
                && bytes[position + 1] == UInt8(ascii: "="):
                let found = c == UInt8(ascii: "<") ? "<=" : ">="
                throw .error(1409, "'\(found)' after field '\(field)' at position \(position + 1) of query '\(text)'; operators are =, !=, <, > and ~")
            case UInt8(ascii: "<")?: op = .less; position += 1
            case UInt8(ascii: ">")?: op = .greater; position += 1
            case UInt8(ascii: "~")?: op = .like; position += 1
            case UInt8(ascii: "!")? where position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "="):
                op = .notEqual; position += 2
            case .some:
                var end = position
                while end < bytes.count, !Self.isFieldByte(bytes[end]), ![UInt8(ascii: ";"), UInt8(ascii: ","), UInt8(ascii: ")")].contains(bytes[end]) { end += 1 }
                let found = String(decoding: bytes[position..<max(end, position + 1)], as: UTF8.self)
                throw .error(1409, "'\(found)' after field '\(field)' at position \(position + 1) of query '\(text)'; operators are =, !=, <, > and ~")
            case nil:
                throw WazuhQuery.invalid(text, "field '\(field)' has no operator and value")
            }
            let valueStart = position
            while let c = peek, c != UInt8(ascii: ";"), c != UInt8(ascii: ","), c != UInt8(ascii: ")") {
                if c == UInt8(ascii: "(") {
                    throw WazuhQuery.invalid(text, "'(' inside the value of '\(field)' at position \(position + 1)")
                }
                position += 1
            }
            conditions += 1
            guard conditions <= WazuhQuery.maxConditions else {
                throw WazuhQuery.invalid(text, "it has more than \(WazuhQuery.maxConditions) conditions")
            }
            return .condition(field: field, op: op, value: String(decoding: bytes[valueStart..<position], as: UTF8.self))
        }

        static func isFieldByte(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E
        }
    }
}
