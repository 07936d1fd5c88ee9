import ClusterNode
import Common
import FuzzSupport

/// A distributed-API request body as `dapi` / `dapi_fwd` carry it (`DapiRequest.parse`), with the `q`
/// filter of its arguments (`WazuhQuery`), and the same bytes read as a node's answer (`DapiOutcome.decode`)
/// merged as the master merges answers. A request that parses must be forwarded as a body that parses back
/// to the same request.
enum DapiHarness {
    static func run(_ bytes: [UInt8]) {
        let outcome = DapiOutcome.decode(bytes)
        _ = DapiOutcome.merging([outcome, outcome])?.bytes
        guard case .success(let request) = DapiRequest.parse(bytes) else { return }
        for onMaster in [true, false] { _ = DapiRoute.decide(request, onMaster: onMaster) }
        if let q = request.kwargs["q"]?.stringValue, let query = try? WazuhQuery.parse(q) {
            let sql = try? query.sql { field, op, value throws(WazuhException) in ("\(field) \(op.rawValue) ?", [value]) }
            guard sql == nil || sql!.1.count == countConditions(query) else {
                FuzzInput.violated("the SQL of '\(q)' binds \(sql!.1.count) values")
            }
        }
        let forwarded = Array(JSONValue.object(request.encodedBody).pythonText.utf8)
        guard case .success(let again) = DapiRequest.parse(forwarded) else {
            FuzzInput.violated("the forwarded body of a valid request does not parse")
        }
        guard again.function == request.function, again.kwargs == request.kwargs || hasNaN(request.kwargs),
              again.requestType == request.requestType, again.fromCluster == request.fromCluster,
              again.waitForComplete == request.waitForComplete, again.nodes == request.nodes,
              again.apiTimeout == request.apiTimeout, again.broadcasting == request.broadcasting else {
            FuzzInput.violated("the forwarded body parses to another request")
        }
    }

    static func countConditions(_ query: WazuhQuery) -> Int {
        switch query {
        case .condition: return 1
        case .and(let xs), .or(let xs): return xs.map(countConditions).reduce(0, +)
        }
    }

    /// NaN is not equal to itself, so a request carrying one cannot compare equal.
    static func hasNaN(_ object: JSONObject) -> Bool {
        JSONValue.object(object).pythonText.contains("NaN")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    DapiHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-dapi", DapiHarness.run) } }
#endif
