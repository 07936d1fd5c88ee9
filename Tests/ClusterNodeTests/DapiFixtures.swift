import Common
import Foundation

/// The 4.8.1 DAPI captures (Tests/Fixtures/wazuh-4.8.1/dapi/dapi-calls.jsonl): one call per line, with
/// the request body the API sent and the answer string the cluster gave.
enum DapiFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/wazuh-4.8.1/dapi")

    struct Call {
        let name: String
        /// The `dapi` / `dapi_fwd` body (nil for calls that sent none).
        let request: JSONValue?
        /// The raw answer string, and it decoded as JSON when it is.
        let rawResponse: String?
        var response: JSONValue? { rawResponse.flatMap { try? JSONParser.parse(Array($0.utf8)) } }
        /// The whole record.
        let record: JSONValue
    }

    static let calls: [String: Call] = {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("dapi-calls.jsonl"), encoding: .utf8) else { return [:] }
        var out: [String: Call] = [:]
        for line in text.split(separator: "\n") {
            guard let record = try? JSONParser.parse(Array(line.utf8)), let name = record["name"]?.stringValue else { continue }
            var request: JSONValue?
            if let body = record["request_payload"]?.stringValue {
                // dapi_fwd bodies are "<node> <json>".
                let json = body.hasPrefix("{") ? body : String(body.drop(while: { $0 != " " }).dropFirst())
                request = try? JSONParser.parse(Array(json.utf8))
            }
            out[name] = Call(name: name, request: request, rawResponse: record["raw_response"]?.stringValue, record: record)
        }
        return out
    }()

    static func call(_ name: String) -> Call {
        guard let c = calls[name] else { fatalError("no DAPI capture named \(name) in \(directory.path)") }
        return c
    }
}

/// JSON equality with object keys compared as sets (4.8.1's key order varies per run).
func jsonEqualUnordered(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a.materialized, b.materialized) {
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in x {
            guard let w = y[k], jsonEqualUnordered(v, w) else { return false }
        }
        return true
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { jsonEqualUnordered($0, $1) }
    case (.int(let i), .double(let d)), (.double(let d), .int(let i)):
        return Double(i) == d
    default:
        return a == b
    }
}

/// The first difference between two JSON values (a path and both sides), for assertion messages.
func jsonDifference(_ a: JSONValue, _ b: JSONValue, path: String = "$") -> String? {
    switch (a.materialized, b.materialized) {
    case (.object(let x), .object(let y)):
        for (k, v) in x {
            guard let w = y[k] else { return "\(path).\(k): only on the left (\(v.pythonText.prefix(120)))" }
            if let d = jsonDifference(v, w, path: "\(path).\(k)") { return d }
        }
        for (k, w) in y where x[k] == nil { return "\(path).\(k): only on the right (\(w.pythonText.prefix(120)))" }
        return nil
    case (.array(let x), .array(let y)):
        if x.count != y.count { return "\(path): \(x.count) elements vs \(y.count)" }
        for (i, (v, w)) in zip(x, y).enumerated() { if let d = jsonDifference(v, w, path: "\(path)[\(i)]") { return d } }
        return nil
    default:
        return jsonEqualUnordered(a, b) ? nil : "\(path): \(a.pythonText.prefix(160)) vs \(b.pythonText.prefix(160))"
    }
}
