import Common
import Foundation

enum DapiRulesetFunctions {
    static let table: [DapiEntry] = []
}
