import Common
import Foundation

/// Placeholder until the ruleset hash lands (dapi-cluster branch).
enum RulesetHash {
    static func compute(home: String) throws -> JSONObject { JSONObject() }
}
