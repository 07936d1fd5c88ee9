import Common
import Foundation

enum DapiAgentFunctions {
    static let table: [DapiEntry] = []
}
