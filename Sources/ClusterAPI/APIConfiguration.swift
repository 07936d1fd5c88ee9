import Common
import Foundation
import Yams

/// The settings of Wazuh's `<home>/api/configuration/api.yaml` that apply to this front: `host`, `port`,
/// `https.enabled`, `https.key`, `https.cert`, `logs.level`, `auth_token_exp_timeout`,
/// `access.max_login_attempts`, `access.block_time`, `intervals.request_timeout`. Other keys are named
/// in `unknownKeys` (the server warns once about each).
public struct APIConfiguration: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 55000
    public var httpsEnabled = true
    /// Key and certificate paths; relative ones are under `<home>/api/configuration/ssl/`.
    public var httpsKey = "server.key"
    public var httpsCert = "server.crt"
    public var logLevel = "info"
    public var tokenLifetime = 900
    public var maxLoginAttempts = 50
    public var blockTime = 300
    /// Seconds a request may run (`api_timeout` of the DAPI requests it sends).
    public var requestTimeout = 10
    /// Keys of the file this front does not use, dotted (`cors.enabled`).
    public var unknownKeys: [String] = []

    public init() {}

    public static func path(home: String) -> String { home + "/api/configuration/api.yaml" }

    public func sslPath(_ file: String, home: String) -> String {
        file.hasPrefix("/") ? file : home + "/api/configuration/ssl/" + file
    }

    /// Reads `api.yaml` under `home`; a missing file gives the defaults. A file that is not YAML, or a
    /// known key with a value of the wrong type, is an error naming the file and the key.
    public static func load(home: String) throws -> APIConfiguration {
        let file = path(home: home)
        guard FileManager.default.fileExists(atPath: file) else { return APIConfiguration() }
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw APIConfigurationError(file: file, key: nil, problem: "cannot be read: \(error.localizedDescription)")
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws -> APIConfiguration {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw APIConfigurationError(file: file, key: nil, problem: "is not valid YAML: \(error)")
        }
        var c = APIConfiguration()
        guard let top = node as? [String: Any] else {
            if node == nil { return c }
            throw APIConfigurationError(file: file, key: nil, problem: "must be a mapping of settings")
        }
        func bad(_ key: String, _ expected: String) -> APIConfigurationError {
            APIConfigurationError(file: file, key: key, problem: "must be \(expected)")
        }
        func int(_ v: Any, _ key: String) throws -> Int {
            if let i = v as? Int { return i }
            throw bad(key, "an integer")
        }
        func bool(_ v: Any, _ key: String) throws -> Bool {
            if let b = v as? Bool { return b }
            throw bad(key, "true or false")
        }
        func string(_ v: Any, _ key: String) throws -> String {
            if let s = v as? String { return s }
            throw bad(key, "a string")
        }
        for (key, value) in top.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "host":
                if let list = value as? [Any] { c.host = try string(list.first ?? "0.0.0.0", "host") } else { c.host = try string(value, "host") }
            case "port":
                c.port = try int(value, "port")
                guard (1...65535).contains(c.port) else { throw bad("port", "a port number between 1 and 65535") }
            case "auth_token_exp_timeout":
                c.tokenLifetime = try int(value, key)
                guard c.tokenLifetime > 0 else { throw bad(key, "a positive number of seconds") }
            case "https", "logs", "access", "intervals":
                guard let sub = value as? [String: Any] else { throw bad(key, "a mapping") }
                for (k, v) in sub.sorted(by: { $0.key < $1.key }) {
                    switch (key, k) {
                    case ("https", "enabled"): c.httpsEnabled = try bool(v, "https.enabled")
                    case ("https", "key"): c.httpsKey = try string(v, "https.key")
                    case ("https", "cert"): c.httpsCert = try string(v, "https.cert")
                    case ("logs", "level"):
                        c.logLevel = try string(v, "logs.level")
                        guard ["disabled", "info", "warning", "error", "debug", "debug2"].contains(c.logLevel) else {
                            throw bad("logs.level", "one of disabled, info, warning, error, debug, debug2")
                        }
                    case ("access", "max_login_attempts"):
                        c.maxLoginAttempts = try int(v, "access.max_login_attempts")
                        guard c.maxLoginAttempts > 0 else { throw bad("access.max_login_attempts", "a positive number") }
                    case ("access", "block_time"):
                        c.blockTime = try int(v, "access.block_time")
                        guard c.blockTime > 0 else { throw bad("access.block_time", "a positive number of seconds") }
                    case ("intervals", "request_timeout"):
                        c.requestTimeout = try int(v, "intervals.request_timeout")
                        guard c.requestTimeout > 0 else { throw bad("intervals.request_timeout", "a positive number of seconds") }
                    default: c.unknownKeys.append("\(key).\(k)")
                    }
                }
            default:
                c.unknownKeys.append(key)
            }
        }
        return c
    }
}

public struct APIConfigurationError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String?
    public let problem: String
    public var description: String { key.map { "\(file): \($0) \(problem)" } ?? "\(file) \(problem)" }
}
