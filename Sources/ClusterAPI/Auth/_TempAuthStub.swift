// TEMPORARY, not committed: lets the server compile until the auth branch lands.
import Foundation
public final class APIAuth: Sendable {
    public struct Settings: Sendable { public var tokenLifetime: Int = 900; public var maxLoginAttempts: Int = 50; public var blockTime: Int = 300; public init() {} }
    public init(home: String, clusterKey: String, settings: Settings, now: @escaping @Sendable () -> Double) throws {}
    public func authenticate(authorization: String?, remoteAddress: String) -> Result<String, APIProblem> { .success("t") }
    public func verify(authorization: String?) -> Result<String, APIProblem> { .success("wazuh") }
    public func revokeAll() throws {}
}
public enum APIUsers {
    public static func path(home: String) -> String { home + "/etc/api-users.json" }
    public static func add(home: String, name: String, password: String) throws {}
    public static func setPassword(home: String, name: String, password: String) throws {}
    public static func delete(home: String, name: String) throws {}
    public static func names(home: String) throws -> [String] { [] }
    public static func ensureDefaultUser(home: String) throws -> String? { nil }
}
