/// Merging the answers of several nodes (LOCAL-DAPI-CONTROL.md §2.6), Python's `|` on results and
/// exceptions.
extension DapiOutcome {
    public func merged(with other: DapiOutcome) -> DapiOutcome {
        switch (self, other) {
        case (.affected(var a), .exception(let e)):
            // A WazuhError naming ids becomes failed items; any other exception wins.
            guard e.carriesIDs, !e.ids.isEmpty else { return other }
            for id in e.ids { a.addFailed(id: id, error: e.withoutIDs) }
            return .affected(a)
        case (.exception(let e), .affected(let a)):
            // The same, in the other order, so that the merge of a failed node and a good one does not
            // depend on which answered first.
            guard e.carriesIDs, !e.ids.isEmpty else { return self }
            return .affected(AffectedItems.failedOnly(e, like: a).merged(with: a))
        case (.affected(let a), .affected(let b)):
            return .affected(a.merged(with: b))
        case (.exception(let a), .exception(let b)):
            return .exception(a.merged(with: b))
        case (.result, .exception):
            return other
        case (.exception, .result):
            return self
        case (.result(let a), .result(let b)):
            return .result(a.merged(with: b))
        case (.affected(var a), .result(let b)):
            a.dikt = DapiMerge.dict(a.dikt, b.result, priority: nil)
            return .affected(a)
        case (.result(let a), .affected(var b)):
            b.dikt = DapiMerge.dict(a.result, b.dikt, priority: nil)
            return .affected(b)
        }
    }

    /// `reduce(or_, outcomes)`; nil for none.
    public static func merging(_ outcomes: [DapiOutcome]) -> DapiOutcome? {
        guard var acc = outcomes.first else { return nil }
        for o in outcomes.dropFirst() { acc = acc.merged(with: o) }
        return acc
    }
}

extension WazuhException {
    var withoutIDs: WazuhException {
        var e = self
        e.ids = []
        return e
    }

    /// `WazuhException | WazuhException`: the left one, with both `dapi_errors` and, for `WazuhError`,
    /// both id sets.
    public func merged(with other: WazuhException) -> WazuhException {
        var e = self
        for (k, v) in other.dapiErrors where e.dapiErrors[k] == nil { e.dapiErrors[k] = v }
        if carriesIDs { for id in other.ids where !e.ids.contains(id) { e.ids.append(id) } }
        return e
    }
}

extension WazuhResultValue {
    func merged(with other: WazuhResultValue) -> WazuhResultValue {
        WazuhResultValue(DapiMerge.dict(result, other.result, priority: strPriority ?? other.strPriority),
                         strPriority: strPriority ?? other.strPriority)
    }
}

extension AffectedItems {
    static func failedOnly(_ e: WazuhException, like template: AffectedItems) -> AffectedItems {
        var a = AffectedItems(allMsg: template.allMsg, someMsg: template.someMsg, noneMsg: template.noneMsg,
                              sortFields: template.sortFields, sortCasting: template.sortCasting, sortAscending: template.sortAscending)
        for id in e.ids { a.addFailed(id: id, error: e.withoutIDs) }
        return a
    }

    /// Failed items unioned, affected items merged in sort order, totals summed, `dikt` merged with
    /// `older_than` kept from the left.
    public func merged(with other: AffectedItems) -> AffectedItems {
        var out = self
        for f in other.failedItems { for id in f.ids { out.addFailed(id: id, error: f.error) } }
        out.affectedItems = DapiMerge.sortedMerge(affectedItems, other.affectedItems, fields: sortFields ?? other.sortFields,
                                                  casting: sortCasting, ascending: sortAscending)
        out.totalAffectedItems = totalAffectedItems + other.totalAffectedItems
        var dikt = DapiMerge.dict(self.dikt, other.dikt, priority: nil)
        if let older = self.dikt["older_than"] { dikt["older_than"] = older }
        out.dikt = dikt
        return out
    }
}

public enum DapiMerge {
    /// The dict merge of `AbstractWazuhResult | other`: missing keys copied, dicts merged recursively,
    /// lists concatenated without repeating elements, numbers added, differing strings joined with `|`
    /// (or chosen by `str_priority`: the one listed first wins).
    public static func dict(_ a: JSONObject, _ b: JSONObject, priority: [String]?) -> JSONObject {
        var out = a
        for (k, w) in b {
            guard let v = out[k] else { out[k] = w; continue }
            out[k] = value(v, w, priority: priority)
        }
        return out
    }

    static func value(_ v: JSONValue, _ w: JSONValue, priority: [String]?) -> JSONValue {
        switch (v, w) {
        case (.object(let x), .object(let y)): return .object(dict(x, y, priority: priority))
        case (.array(let x), .array(let y)): return .array(x + y.filter { !x.contains($0) })
        case (.int(let x), .int(let y)): return .int(x &+ y)
        case (.string(let x), .string(let y)):
            if x == y { return v }
            if let p = priority {
                switch (p.firstIndex(of: x), p.firstIndex(of: y)) {
                case let (i?, j?): return i <= j ? v : w
                case (_?, nil): return v
                case (nil, _?): return w
                default: break
                }
            }
            return .string(x + "|" + y)
        case (.null, _): return w
        case (_, .null), (.bool, _): return v
        default:
            if let x = v.doubleValue, let y = w.doubleValue { return .double(x + y) }
            return v
        }
    }

    /// A merge of two lists each already in sort order (`heapq.merge`): by `fields` cast as `casting`
    /// (`int` or `str`; fields beyond the casting list use its last entry), or by the items themselves
    /// when there are no fields (agent ids as numbers). Items whose key cannot be compared keep their order.
    public static func sortedMerge(_ a: [JSONValue], _ b: [JSONValue], fields: [String]?, casting: [String], ascending: [Bool]) -> [JSONValue] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        let asc = ascending.first ?? true
        func key(_ item: JSONValue) -> [SortKey] {
            if let fields, !fields.isEmpty {
                return fields.enumerated().map { i, f in
                    SortKey(lookup(item, f), cast: casting.isEmpty ? "str" : casting[min(i, casting.count - 1)])
                }
            }
            return [SortKey(item, cast: casting.first ?? "int")]
        }
        var out: [JSONValue] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        let ka = a.map(key), kb = b.map(key)
        while i < a.count && j < b.count {
            // Stable: on equal keys the left list's item comes first.
            let takeRight = asc ? SortKey.less(kb[j], ka[i]) : SortKey.less(ka[i], kb[j])
            if takeRight { out.append(b[j]); j += 1 } else { out.append(a[i]); i += 1 }
        }
        out += a[i...]
        out += b[j...]
        return out
    }

    /// `os.name`-style dotted lookup.
    static func lookup(_ item: JSONValue, _ field: String) -> JSONValue {
        var v: JSONValue? = item
        for part in field.split(separator: ".") { v = v?[String(part)] }
        return v ?? .null
    }

    struct SortKey {
        enum K { case number(Double), text(String), none }
        let k: K
        init(_ v: JSONValue, cast: String) {
            switch v {
            case .int(let i): k = cast == "str" ? .text(String(i)) : .number(Double(i))
            case .double(let d): k = .number(d)
            case .string(let s):
                if cast == "int", let d = Double(s) { k = .number(d) } else { k = .text(s) }
            case .bool(let b): k = .number(b ? 1 : 0)
            default: k = .none
            }
        }

        static func less(_ x: [SortKey], _ y: [SortKey]) -> Bool {
            for (a, b) in zip(x, y) {
                switch (a.k, b.k) {
                case (.number(let p), .number(let q)): if p != q { return p < q }
                case (.text(let p), .text(let q)): if p != q { return p < q }
                case (.none, .none): continue
                case (.none, _): return true
                case (_, .none): return false
                case (.number, .text): return true
                case (.text, .number): return false
                }
            }
            return false
        }
    }
}
