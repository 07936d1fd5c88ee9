import Common
import Foundation

enum DapiManagerFunctions {
    static let table: [DapiEntry] = []
}
