/// The results of a distributed-API function (LOCAL-DAPI-CONTROL.md §2.2, §2.6): an
/// `AffectedItemsWazuhResult`, a `WazuhResult`, or an exception, with their 4.8.1 wire encoding.
public enum DapiOutcome: Sendable, Equatable {
    case affected(AffectedItems)
    case result(WazuhResultValue)
    case exception(WazuhException)

    /// The `WazuhJSONEncoder` form (`__wazuh_result__` / `__wazuh_exception__`).
    public var json: JSONValue {
        switch self {
        case .affected(let a):
            return ["__wazuh_result__": ["__class__": "AffectedItemsWazuhResult", "__object__": a.encoded]]
        case .result(let r):
            return ["__wazuh_result__": ["__class__": "WazuhResult", "__object__": r.encoded]]
        case .exception(let e):
            return e.json
        }
    }

    /// The bytes sent as the DAPI answer string.
    public var bytes: [UInt8] { PythonJSONEncoder().encodeBytes(json) }

    /// Reads an answer: a result or exception object; a JSON value that is neither is wrapped in a
    /// `WazuhResult` (a dict as its result, anything else under `message`); text that is not JSON becomes
    /// `{"message": text}` (§2.3).
    public static func decode(_ bytes: [UInt8]) -> DapiOutcome {
        guard let value = try? JSONParser.parse(bytes) else {
            return .result(WazuhResultValue(JSONObject([("message", .string(String(decoding: bytes, as: UTF8.self)))])))
        }
        return decode(value)
    }

    public static func decode(_ value: JSONValue) -> DapiOutcome {
        if let r = value["__wazuh_result__"], let object = r["__object__"]?.objectValue {
            if r["__class__"]?.stringValue == "AffectedItemsWazuhResult" {
                // Totals are summed when answers merge: a count no answer can have would overflow there.
                if let total = object["total_affected_items"]?.intValue, !(0...Int64(AffectedItems.maxTotal)).contains(total) {
                    return .exception(.internal(1000, "the answer's total_affected_items \(total) is not a count of items "
                                                    + "(0 to \(AffectedItems.maxTotal))"))
                }
                if let a = AffectedItems(encoded: object) { return .affected(a) }
            }
            let priority = object["str_priority"]?.arrayValue?.compactMap(\.stringValue)
            return .result(WazuhResultValue(object["result"]?.objectValue ?? JSONObject(), strPriority: priority))
        }
        if value["__wazuh_exception__"] != nil || value["__unhandled_exc__"] != nil {
            return .exception(WazuhException.decode(value))
        }
        if case .object(let o) = value { return .result(WazuhResultValue(o)) }
        return .result(WazuhResultValue(JSONObject([("message", value)])))
    }
}

/// `WazuhResult`: a dict, plus the `str_priority` list that decides between differing strings when two
/// results merge.
public struct WazuhResultValue: Sendable, Equatable {
    public var result: JSONObject
    public var strPriority: [String]?

    public init(_ result: JSONObject, strPriority: [String]? = nil) {
        self.result = result
        self.strPriority = strPriority
    }

    var encoded: JSONValue {
        ["str_priority": strPriority.map { .array($0.map { .string($0) }) } ?? .null, "result": .object(result)]
    }

    /// The HTTP body: the dict with `"error": 0`.
    public var rendered: JSONValue {
        var o = result
        o["error"] = 0
        return .object(o)
    }
}

/// `AffectedItemsWazuhResult`: the items a function touched, the items it failed on grouped by their
/// error, and the three messages the rendering picks from.
public struct AffectedItems: Sendable, Equatable {
    /// The largest `total_affected_items` an answer may carry (found by `make fuzz`'s fuzz-dapi: two
    /// answers near `Int64.max` overflowed the sum when merged). Far above any real count, and low enough
    /// that no number of merged answers can overflow.
    public static let maxTotal = Int(Int32.max)

    public var affectedItems: [JSONValue]
    public var sortFields: [String]?
    public var sortCasting: [String]
    public var sortAscending: [Bool]
    public var totalAffectedItems: Int
    /// Each error with the ids that failed with it, in the order the errors were first seen.
    public var failedItems: [FailedItem]
    public var dikt: JSONObject
    public var allMsg: String
    public var someMsg: String
    public var noneMsg: String

    public struct FailedItem: Sendable, Equatable {
        public var error: WazuhException
        public var ids: [String]
        public init(error: WazuhException, ids: [String]) {
            self.error = error
            self.ids = ids
        }
    }

    public init(allMsg: String = "", someMsg: String = "", noneMsg: String = "",
                sortFields: [String]? = nil, sortCasting: [String] = ["int"], sortAscending: [Bool] = [true]) {
        affectedItems = []
        totalAffectedItems = 0
        failedItems = []
        dikt = JSONObject()
        (self.allMsg, self.someMsg, self.noneMsg) = (allMsg, someMsg, noneMsg)
        (self.sortFields, self.sortCasting, self.sortAscending) = (sortFields, sortCasting, sortAscending)
    }

    public var totalFailedItems: Int { failedItems.reduce(0) { $0 + $1.ids.count } }

    /// `add_failed_item`: the id joins the entry of an equal error, or starts a new one.
    public mutating func addFailed(id: String, error: WazuhException) {
        if let i = failedItems.firstIndex(where: { $0.error.sameError(as: error) }) {
            if !failedItems[i].ids.contains(id) { failedItems[i].ids.append(id) }
        } else {
            failedItems.append(FailedItem(error: error, ids: [id]))
        }
    }

    var encoded: JSONValue {
        .object(JSONObject([
            ("affected_items", .array(affectedItems)),
            ("sort_fields", sortFields.map { .array($0.map { .string($0) }) } ?? .null),
            ("sort_casting", .array(sortCasting.map { .string($0) })),
            ("sort_ascending", .array(sortAscending.map { .bool($0) })),
            ("total_affected_items", .int(Int64(totalAffectedItems))),
            ("total_failed_items", .int(Int64(totalFailedItems))),
            ("dikt", .object(dikt)),
            ("all_msg", .string(allMsg)),
            ("some_msg", .string(someMsg)),
            ("none_msg", .string(noneMsg)),
            ("failed_items_keys", .array(failedItems.map { f in
                ["__object__": f.error.objectJSON, "__class__": .string(f.error.className)]
            })),
            ("failed_items_values", .array(failedItems.map { .array($0.ids.map { .string($0) }) })),
        ]))
    }

    init?(encoded o: JSONObject) {
        guard let items = o["affected_items"]?.arrayValue else { return nil }
        affectedItems = items
        sortFields = o["sort_fields"]?.arrayValue?.compactMap(\.stringValue)
        sortCasting = o["sort_casting"]?.arrayValue?.compactMap(\.stringValue) ?? ["int"]
        sortAscending = o["sort_ascending"]?.arrayValue?.compactMap(\.boolValue) ?? [true]
        totalAffectedItems = Int(o["total_affected_items"]?.intValue ?? Int64(items.count))
        dikt = o["dikt"]?.objectValue ?? JSONObject()
        allMsg = o["all_msg"]?.stringValue ?? ""
        someMsg = o["some_msg"]?.stringValue ?? ""
        noneMsg = o["none_msg"]?.stringValue ?? ""
        let keys = o["failed_items_keys"]?.arrayValue ?? []
        let values = o["failed_items_values"]?.arrayValue ?? []
        failedItems = zip(keys, values).map { key, ids in
            let e = WazuhException.decode(["__wazuh_exception__": key])
            return FailedItem(error: e, ids: ids.arrayValue?.map { $0.stringValue ?? $0.pythonText } ?? [])
        }
    }

    /// The HTTP body (`render()`): `error` 0 when nothing failed, 2 when some items failed, 1 when all did.
    public var rendered: JSONValue {
        var data = JSONObject([
            ("affected_items", .array(affectedItems)),
            ("total_affected_items", .int(Int64(totalAffectedItems))),
            ("total_failed_items", .int(Int64(totalFailedItems))),
            ("failed_items", .array(failedItems.map { f in
                var error = JSONObject([("code", .int(Int64(f.error.code))), ("message", .string(f.error.message))])
                if let r = f.error.remediation { error["remediation"] = .string(r) }
                return ["error": .object(error), "id": .array(f.ids.sorted().map { .string($0) })]
            })),
        ])
        for (k, v) in dikt { data[k] = v }
        let (message, error): (String, Int64)
        if totalFailedItems == 0 { (message, error) = (allMsg, 0) }
        else if totalAffectedItems == 0 { (message, error) = (noneMsg, 1) }
        else { (message, error) = (someMsg, 2) }
        return ["data": .object(data), "message": .string(message), "error": .int(error)]
    }
}
