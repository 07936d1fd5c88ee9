import Common

/// The arguments of `get_nodes` (LOCAL-DAPI-CONTROL.md §2.9): filter by name and type, select fields,
/// search, sort, then offset/limit; the result is `{"items": [...], "totalItems": n}`.
struct NodeQuery {
    static let fields = ["name", "type", "version", "ip"]
    var filterNode: [String]?
    var filterType = "all"
    var select: [String]?
    var offset = 0
    var limit = 500
    var sortFields: [String] = []
    var sortDescending = false
    var search: String?
    var searchNegation = false
    var distinct = false

    init(args: JSONValue) throws {
        guard case .object = args else { return }
        switch args["filter_node"] {
        case .string(let s)?: filterNode = [s]
        case .array(let a)?: filterNode = a.compactMap(\.stringValue)
        default: break
        }
        if let t = args["filter_type"]?.stringValue { filterType = t }
        guard ["all", "master", "worker"].contains(filterType) else { throw WazuhException(.error, code: 1728, extraMessage: nil) }
        if let s = args["select"]?.arrayValue {
            select = s.compactMap(\.stringValue)
            guard select!.allSatisfy(Self.fields.contains) else { throw WazuhException(.error, code: 1724, extraMessage: nil) }
        }
        if let o = args["offset"]?.intValue { offset = max(0, Int(o)) }
        if let l = args["limit"]?.intValue { limit = max(0, Int(l)) }
        if let sort = args["sort"]?.objectValue {
            sortFields = sort["fields"]?.arrayValue?.compactMap(\.stringValue) ?? []
            sortDescending = sort["order"]?.stringValue == "desc"
        }
        if let s = args["search"]?.objectValue {
            search = s["value"]?.stringValue
            searchNegation = s["negation"]?.boolValue ?? false
        }
        distinct = args["distinct"]?.boolValue ?? false
    }

    func apply(to nodes: [JSONValue]) throws -> JSONValue {
        var items = nodes
        if let filterNode {
            let known = Set(nodes.compactMap { $0["name"]?.stringValue })
            guard filterNode.allSatisfy(known.contains) else { throw WazuhException(.error, code: 1730, extraMessage: nil) }
            items = items.filter { filterNode.contains($0["name"]?.stringValue ?? "") }
        }
        if filterType != "all" { items = items.filter { $0["type"]?.stringValue == filterType } }
        if let search {
            items = items.filter { item in
                let hit = Self.fields.contains { (item[$0]?.stringValue ?? "").lowercased().contains(search.lowercased()) }
                return hit != searchNegation
            }
        }
        if !sortFields.isEmpty {
            items.sort { a, b in
                for f in sortFields {
                    let x = a[f]?.stringValue ?? "", y = b[f]?.stringValue ?? ""
                    if x != y { return sortDescending ? x > y : x < y }
                }
                return false
            }
        }
        if let select {
            items = items.map { item in
                .object(JSONObject(Self.fields.filter(select.contains).compactMap { f in item[f].map { (f, $0) } }))
            }
        }
        if distinct {
            var seen: [JSONValue] = []
            items = items.filter { i in if seen.contains(i) { return false }; seen.append(i); return true }
        }
        let total = items.count
        let page = Array(items.dropFirst(offset).prefix(limit))
        return .object(JSONObject([("items", .array(page)), ("totalItems", .int(Int64(total)))]))
    }
}
