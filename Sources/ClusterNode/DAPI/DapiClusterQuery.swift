import Common

/// The list processing the framework applies to in-memory items (its `process_array`): free-text search,
/// the `q` query, sort, select, distinct, then offset/limit; `totalItems` counts the items before paging.
/// Used by `get_nodes_info` (its `q`) and the manager log functions.
struct DapiItemQuery {
    var searchText: String?
    var complementarySearch = false
    var searchFields: [String]?
    var q: String?
    var sortFields: [String] = []
    var sortAscending = true
    var select: [String]?
    var distinct = false
    var offset = 0
    var limit: Int? = 500

    init() {}

    /// The listing kwargs the framework's file and log functions take (`search_text`,
    /// `complementary_search`, `search_in_fields`, `q`, `sort_by`, `sort_ascending`, `select`, `distinct`,
    /// `offset`, `limit`).
    init(_ call: DapiCall) throws(WazuhException) {
        searchText = try call.string("search_text")
        complementarySearch = try call.bool("complementary_search") ?? false
        searchFields = try call.stringList("search_in_fields")
        q = try call.string("q")
        sortFields = try call.stringList("sort_by") ?? []
        sortAscending = try call.bool("sort_ascending") ?? true
        select = try call.stringList("select")
        distinct = try call.bool("distinct") ?? false
        offset = try call.int("offset") ?? 0
        limit = try call.int("limit") ?? 500
    }

    func apply(to input: [JSONValue]) throws(WazuhException) -> (items: [JSONValue], total: Int) {
        var items = input
        if let searchText, !searchText.isEmpty {
            let needle = searchText.lowercased()
            items = items.filter { item in
                let texts: [String]
                if let fields = searchFields, !fields.isEmpty {
                    texts = fields.compactMap { Self.value(item, $0).map(Self.text) }
                } else {
                    texts = Self.leaves(item)
                }
                return texts.contains { $0.lowercased().contains(needle) } != complementarySearch
            }
        }
        if let q, !q.isEmpty {
            let query = try DapiQ(q)
            items = items.filter { query.matches($0) }
        }
        if !sortFields.isEmpty {
            items = Self.stableSorted(items) { a, b in
                for f in sortFields {
                    let x = Self.value(a, f).map(Self.text) ?? "", y = Self.value(b, f).map(Self.text) ?? ""
                    if x != y { return sortAscending ? x < y : x > y }
                }
                return false
            }
        }
        if let select {
            items = items.map { item in
                guard case .object(let o) = item else { return item }
                return .object(JSONObject(o.filter { select.contains($0.key) }.map { ($0.key, $0.value) }))
            }
        }
        if distinct {
            var seen: [JSONValue] = []
            items = items.filter { i in
                if seen.contains(i) { return false }
                seen.append(i)
                return true
            }
        }
        let total = items.count
        let start = min(offset, items.count)
        let page = Array(items[start...].prefix(limit ?? items.count))
        return (page, total)
    }

    /// A dotted field (`a.b`) of an item.
    static func value(_ item: JSONValue, _ field: String) -> JSONValue? {
        var v: JSONValue? = item
        for part in field.split(separator: ".") { v = v?[String(part)] }
        return v
    }

    static func text(_ v: JSONValue) -> String { v.stringValue ?? v.pythonText }

    static func leaves(_ v: JSONValue) -> [String] {
        switch v {
        case .object(let o): return o.flatMap { leaves($0.value) }
        case .array(let a): return a.flatMap(leaves)
        default: return [text(v)]
        }
    }

    static func stableSorted(_ items: [JSONValue], by less: (JSONValue, JSONValue) -> Bool) -> [JSONValue] {
        items.enumerated().sorted { a, b in
            if less(a.element, b.element) { return true }
            if less(b.element, a.element) { return false }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// The API's `q` filter language, as far as in-memory lists need it: conditions `field<op>value` with
/// `=`, `!=`, `<`, `>`, `~` (contains), joined by `;` (and) and `,` (or; `;` binds tighter), optional
/// parentheses around a whole group are not supported. A malformed query is error 1407.
struct DapiQ {
    struct Condition {
        var field: String
        var op: String
        var value: String
    }
    /// OR of ANDs.
    var groups: [[Condition]]

    init(_ q: String) throws(WazuhException) {
        var groups: [[Condition]] = []
        for orPart in q.split(separator: ",", omittingEmptySubsequences: false) {
            var group: [Condition] = []
            for term in orPart.split(separator: ";", omittingEmptySubsequences: false) {
                guard let c = Self.condition(String(term)) else { throw WazuhException.error(1407, q) }
                group.append(c)
            }
            groups.append(group)
        }
        self.groups = groups
    }

    /// The operator that comes first in the term splits it (`!=` before `=` at the same place).
    static func condition(_ term: String) -> Condition? {
        var best: (Range<String.Index>, String)?
        for op in ["!=", "=", "<", ">", "~"] {
            if let r = term.range(of: op), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, op) }
        }
        guard let (r, op) = best else { return nil }
        let field = String(term[..<r.lowerBound]), value = String(term[r.upperBound...])
        guard !field.isEmpty, field.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else { return nil }
        return Condition(field: field, op: op, value: value)
    }

    func matches(_ item: JSONValue) -> Bool {
        groups.contains { group in group.allSatisfy { Self.holds($0, item) } }
    }

    static func holds(_ c: Condition, _ item: JSONValue) -> Bool {
        guard let v = DapiItemQuery.value(item, c.field) else { return false }
        let text = DapiItemQuery.text(v)
        switch c.op {
        case "=": return text.lowercased() == c.value.lowercased()
        case "!=": return text.lowercased() != c.value.lowercased()
        case "~": return text.lowercased().contains(c.value.lowercased())
        case "<", ">":
            if let a = Double(text), let b = Double(c.value) { return c.op == "<" ? a < b : a > b }
            return c.op == "<" ? text < c.value : text > c.value
        default: return false
        }
    }
}
