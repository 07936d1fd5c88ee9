import Foundation
import HummingbirdBcrypt

/// Why a change to (or a read of) the API users file was refused.
public enum APIUsersError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A user name outside `[A-Za-z0-9_.-]{1,64}`.
    case invalidName(String)
    /// A password the file cannot take: shorter than 8 characters, longer than bcrypt reads (72 bytes),
    /// or holding a NUL character.
    case invalidPassword(user: String, reason: String)
    case userExists(name: String, file: String)
    case noSuchUser(name: String, file: String)
    /// The file exists but is not a valid users file; it is left as it is.
    case corruptFile(path: String, reason: String)
    /// A system call failed on the file (or its temporary or lock file).
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidName(let n):
            return "invalid API user name '\(n)': 1 to 64 characters among A-Z a-z 0-9 _ . -"
        case .invalidPassword(let u, let r):
            return "invalid password for API user '\(u)': \(r)"
        case .userExists(let n, let f):
            return "API user '\(n)' already exists in \(f)"
        case .noSuchUser(let n, let f):
            return "API user '\(n)' does not exist in \(f)"
        case .corruptFile(let p, let r):
            return "the API users file \(p) is corrupt (\(r)); it was left untouched"
        case .io(let p, let r):
            return "API users file \(p): \(r)"
        }
    }
}

/// One user of the users file: the name and its bcrypt hash.
struct APIUserRecord: Codable, Sendable, Equatable {
    var name: String
    var hash: String
}

/// The users of `cluster-api`: `<home>/etc/cluster-api/users.json` (synced from the master to clusterd
/// workers with the integrity files), `{"users": [{"name", "hash"}]}` with bcrypt
/// hashes, mode 0600, rewritten atomically under an exclusive lock (`<file>.lock`) so that concurrent
/// changes from several processes are not lost.
public enum APIUsers {
    /// The bcrypt cost of new hashes (2^12 rounds).
    public static let defaultCost: UInt8 = 12
    /// The user `ensureDefaultUser` creates.
    public static let defaultUserName = "wazuh"
    static let minPasswordLength = 8
    /// bcrypt reads at most 72 bytes of a password; longer ones would be silently cut.
    static let maxPasswordBytes = 72

    private struct File: Codable {
        var users: [APIUserRecord]
    }

    public static func path(home: String) -> String {
        (home as NSString).appendingPathComponent("etc/cluster-api/users.json")
    }

    /// Adds `name`; an error if it exists. `cost` is the bcrypt cost (4...31).
    public static func add(home: String, name: String, password: String, cost: UInt8 = defaultCost) throws {
        try validate(name: name)
        try validate(password: password, user: name)
        let file = path(home: home)
        try change(file) { users in
            if users.contains(where: { $0.name == name }) { throw APIUsersError.userExists(name: name, file: file) }
            users.append(APIUserRecord(name: name, hash: Bcrypt.hash(password, cost: cost)))
        }
    }

    /// Replaces the password of `name`; an error if it does not exist.
    public static func setPassword(home: String, name: String, password: String, cost: UInt8 = defaultCost) throws {
        try validate(name: name)
        try validate(password: password, user: name)
        let file = path(home: home)
        try change(file) { users in
            guard let i = users.firstIndex(where: { $0.name == name }) else {
                throw APIUsersError.noSuchUser(name: name, file: file)
            }
            users[i].hash = Bcrypt.hash(password, cost: cost)
        }
    }

    /// Removes `name`; an error if it does not exist.
    public static func delete(home: String, name: String) throws {
        let file = path(home: home)
        try change(file) { users in
            guard let i = users.firstIndex(where: { $0.name == name }) else {
                throw APIUsersError.noSuchUser(name: name, file: file)
            }
            users.remove(at: i)
        }
    }

    /// The user names in file order; empty when the file does not exist.
    public static func names(home: String) throws -> [String] {
        try load(home: home).map(\.name)
    }

    /// When the users file does not exist: creates it with the user `wazuh` and a random password, and
    /// returns that password (the caller shows it once). nil when the file exists; an existing file is
    /// still read, so a corrupt one is reported at start rather than at the first login.
    public static func ensureDefaultUser(home: String, cost: UInt8 = defaultCost) throws -> String? {
        let file = path(home: home)
        return try locked(file) { () throws -> String? in
            if AuthFiles.exists(file) {
                _ = try load(file)
                return nil
            }
            let password = randomPassword()
            let record = APIUserRecord(name: defaultUserName, hash: Bcrypt.hash(password, cost: cost))
            try store([record], to: file)
            return password
        }
    }

    // MARK: - Reading (also used by APIAuth)

    /// The users of `home`'s file; empty when it does not exist.
    static func load(home: String) throws -> [APIUserRecord] {
        try load(path(home: home))
    }

    static func load(_ file: String) throws -> [APIUserRecord] {
        let bytes: [UInt8]?
        do {
            bytes = try AuthFiles.readFile(file)
        } catch {
            throw APIUsersError.io(path: file, reason: error.description)
        }
        guard let bytes else { return [] }
        let decoded: File
        do {
            decoded = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw APIUsersError.corruptFile(path: file, reason: "not a JSON object {\"users\": [{\"name\", \"hash\"}]}: \(error)")
        }
        var seen = Set<String>()
        for u in decoded.users {
            guard isValid(name: u.name) else {
                throw APIUsersError.corruptFile(path: file, reason: "invalid user name '\(u.name)'")
            }
            guard seen.insert(u.name).inserted else {
                throw APIUsersError.corruptFile(path: file, reason: "user '\(u.name)' appears twice")
            }
            guard looksLikeBcrypt(u.hash) else {
                throw APIUsersError.corruptFile(path: file, reason: "the hash of user '\(u.name)' is not a bcrypt hash")
            }
        }
        return decoded.users
    }

    // MARK: - Rules

    static func isValid(name: String) -> Bool {
        guard (1...64).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2E || c == 0x2D
        }
    }

    static func validate(name: String) throws {
        guard isValid(name: name) else { throw APIUsersError.invalidName(name) }
    }

    /// nil when `password` can be stored (and checked by bcrypt exactly), else the reason.
    static func passwordProblem(_ password: String) -> String? {
        if password.count < minPasswordLength { return "shorter than \(minPasswordLength) characters" }
        if password.utf8.count > maxPasswordBytes { return "longer than \(maxPasswordBytes) bytes (bcrypt ignores the rest)" }
        if password.utf8.contains(0) { return "contains a NUL character" }
        return nil
    }

    static func validate(password: String, user: String) throws {
        if let reason = passwordProblem(password) { throw APIUsersError.invalidPassword(user: user, reason: reason) }
    }

    /// `$2a$`/`$2b$`/`$2y$`, two cost digits, `$`, 53 characters of salt and hash: 60 in all.
    static func looksLikeBcrypt(_ hash: String) -> Bool {
        let b = Array(hash.utf8)
        guard b.count == 60, b[0] == 0x24, b[1] == 0x32, [0x61, 0x62, 0x79].contains(b[2]), b[3] == 0x24, b[6] == 0x24 else {
            return false
        }
        guard let cost = bcryptCost(hash), (4...31).contains(cost) else { return false }
        return true
    }

    /// The cost field of a bcrypt hash.
    static func bcryptCost(_ hash: String) -> UInt8? {
        let b = Array(hash.utf8)
        guard b.count >= 7, (0x30...0x39).contains(b[4]), (0x30...0x39).contains(b[5]) else { return nil }
        return (b[4] - 0x30) * 10 + (b[5] - 0x30)
    }

    /// 20 characters with at least one upper-case letter, lower-case letter, digit and symbol (the password
    /// policy of the Wazuh API), drawn from the system's cryptographic generator.
    static func randomPassword() -> String {
        let upper = Array("ABCDEFGHJKLMNPQRSTUVWXYZ"), lower = Array("abcdefghijkmnopqrstuvwxyz")
        let digits = Array("23456789"), symbols = Array(".*+?-_")
        let all = upper + lower + digits + symbols
        var rng = SystemRandomNumberGenerator()
        while true {
            let p = String((0..<20).map { _ in all.randomElement(using: &rng)! })
            if p.contains(where: upper.contains) && p.contains(where: lower.contains) && p.contains(where: digits.contains)
                && p.contains(where: symbols.contains)
            {
                return p
            }
        }
    }

    // MARK: - Writing

    private static func locked<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do {
            return try AuthFiles.withLock(file + ".lock", body)
        } catch let e as AuthFileFailure {
            throw APIUsersError.io(path: e.path, reason: e.description)
        }
    }

    /// Read, change, write back, all under the lock; nothing is written when `body` throws.
    private static func change(_ file: String, _ body: (inout [APIUserRecord]) throws -> Void) throws {
        try locked(file) {
            var users = try load(file)
            try body(&users)
            try store(users, to: file)
        }
    }

    private static func store(_ users: [APIUserRecord], to file: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(File(users: users))
        } catch {
            throw APIUsersError.io(path: file, reason: "encoding: \(error)")
        }
        do {
            try AuthFiles.writeAtomically(Array(data) + [0x0A], to: file, mode: 0o600)
        } catch {
            throw APIUsersError.io(path: error.path, reason: error.description)
        }
    }
}
