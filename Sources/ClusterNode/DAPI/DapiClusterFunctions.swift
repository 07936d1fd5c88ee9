import Common
import Foundation

enum DapiClusterFunctions {
    static let table: [DapiEntry] = []
}
