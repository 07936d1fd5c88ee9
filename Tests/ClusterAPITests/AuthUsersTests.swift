@testable import ClusterAPI
import Foundation
import HummingbirdBcrypt
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct AuthUsersTests {
    @Test func addChangeDeleteList() async throws {
        try await withAuthHome { home in
            #expect(try APIUsers.names(home: home.path) == [])
            #expect(!FileManager.default.fileExists(atPath: home.usersFile))

            try APIUsers.add(home: home.path, name: "alice", password: "alice-secret", cost: authTestCost)
            try APIUsers.add(home: home.path, name: "bob.b_2-x", password: "bob-secret", cost: authTestCost)
            #expect(try APIUsers.names(home: home.path) == ["alice", "bob.b_2-x"])
            #expect(authFileMode(home.usersFile) == 0o600)

            #expect(throws: APIUsersError.userExists(name: "alice", file: home.usersFile)) {
                try APIUsers.add(home: home.path, name: "alice", password: "another-one", cost: authTestCost)
            }
            #expect(throws: APIUsersError.noSuchUser(name: "carol", file: home.usersFile)) {
                try APIUsers.setPassword(home: home.path, name: "carol", password: "carol-secret", cost: authTestCost)
            }
            #expect(throws: APIUsersError.noSuchUser(name: "carol", file: home.usersFile)) {
                try APIUsers.delete(home: home.path, name: "carol")
            }

            let before = try #require(APIUsers.load(home: home.path).first { $0.name == "alice" }?.hash)
            #expect(Bcrypt.verify("alice-secret", hash: before))
            try APIUsers.setPassword(home: home.path, name: "alice", password: "alice-new-secret", cost: authTestCost)
            let after = try #require(APIUsers.load(home: home.path).first { $0.name == "alice" }?.hash)
            #expect(Bcrypt.verify("alice-new-secret", hash: after))
            #expect(!Bcrypt.verify("alice-secret", hash: after))

            try APIUsers.delete(home: home.path, name: "bob.b_2-x")
            #expect(try APIUsers.names(home: home.path) == ["alice"])
            #expect(authFileMode(home.usersFile) == 0o600)

            // The file is the documented JSON, with no password in it.
            let text = try String(contentsOfFile: home.usersFile, encoding: .utf8)
            #expect(!text.contains("alice-new-secret"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let users = try #require(object["users"] as? [[String: Any]])
            #expect(users.count == 1)
            #expect(users[0]["name"] as? String == "alice")
            #expect(users[0]["hash"] as? String == after)
        }
    }

    @Test func writesGoThroughATemporaryFileAndRename() async throws {
        try await withAuthHome { home in
            try APIUsers.add(home: home.path, name: "alice", password: "alice-secret", cost: authTestCost)
            let oldContent = try Data(contentsOf: URL(fileURLWithPath: home.usersFile))
            // Keep the old file open: a rewrite in place would change what this descriptor reads.
            let fd = open(home.usersFile, O_RDONLY)
            #expect(fd >= 0)
            defer { close(fd) }
            let oldInode = authInode(home.usersFile)

            try APIUsers.add(home: home.path, name: "bob", password: "bob-secret", cost: authTestCost)
            #expect(authInode(home.usersFile) != oldInode)
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &buffer, buffer.count)
            #expect(Data(buffer[0..<max(0, n)]) == oldContent)
            #expect(authFileMode(home.usersFile) == 0o600)

            // Nothing left behind but the file and its lock.
            let entries = try FileManager.default.contentsOfDirectory(atPath: home.path + "/etc/cluster-api").sorted()
            #expect(entries == ["users.json", "users.json.lock"])
        }
    }

    @Test func invalidNamesAndPasswordsAreRefused() async throws {
        try await withAuthHome { home in
            for name in ["", String(repeating: "a", count: 65), "a b", "é", "a/b", "../x", "x:y", "a\u{0}b"] {
                #expect(throws: APIUsersError.invalidName(name)) {
                    try APIUsers.add(home: home.path, name: name, password: "long-enough", cost: authTestCost)
                }
            }
            try APIUsers.add(home: home.path, name: String(repeating: "a", count: 64), password: "long-enough", cost: authTestCost)

            let refused = ["", "1234567", String(repeating: "x", count: 73), "abc\u{0}defghij"]
            for password in refused {
                #expect(throws: APIUsersError.self) {
                    try APIUsers.add(home: home.path, name: "bob", password: password, cost: authTestCost)
                }
            }
            do {
                try APIUsers.add(home: home.path, name: "bob", password: "1234567", cost: authTestCost)
                Issue.record("a 7-character password was taken")
            } catch let e as APIUsersError {
                guard case .invalidPassword(let user, let reason) = e else { Issue.record("\(e)"); return }
                #expect(user == "bob")
                #expect(reason.contains("8"))
            }
            // The shortest and the longest passwords that bcrypt checks in full are taken.
            try APIUsers.add(home: home.path, name: "bob", password: "12345678", cost: authTestCost)
            #expect(throws: APIUsersError.self) {
                try APIUsers.setPassword(home: home.path, name: "bob", password: "short", cost: authTestCost)
            }
            try APIUsers.setPassword(home: home.path, name: "bob", password: String(repeating: "y", count: 72), cost: authTestCost)
            #expect(try APIUsers.names(home: home.path) == [String(repeating: "a", count: 64), "bob"])
        }
    }

    @Test(arguments: [
        "{not json",
        "",
        "[]",
        #"{"users": [{"name": "alice"}]}"#,
        #"{"users": [{"name": "alice", "hash": "plain-text-password"}]}"#,
        #"{"users": [{"name": "a b", "hash": "$2b$04$abcdefghijklmnopqrstuu5Ky0ZXfJ8bWzq3CGXv8mV6l5PSn7A6W"}]}"#,
        #"{"users": [{"name": "alice", "hash": "$2b$04$abcdefghijklmnopqrstuu5Ky0ZXfJ8bWzq3CGXv8mV6l5PSn7A6W"}, {"name": "alice", "hash": "$2b$04$abcdefghijklmnopqrstuu5Ky0ZXfJ8bWzq3CGXv8mV6l5PSn7A6W"}]}"#,
    ])
    func corruptFileIsRefusedAndLeftAlone(content: String) async throws {
        try await withAuthHome { home in
            try Data(content.utf8).write(to: URL(fileURLWithPath: home.usersFile))
            func isCorruptError(_ e: any Error) -> Bool {
                guard case .corruptFile(let path, _) = e as? APIUsersError else { return false }
                return path == home.usersFile && "\(e)".contains(home.usersFile)
            }
            #expect(performing: { try APIUsers.names(home: home.path) }, throws: isCorruptError)
            #expect(performing: { try APIUsers.add(home: home.path, name: "bob", password: "bob-secret", cost: authTestCost) },
                    throws: isCorruptError)
            #expect(performing: { try APIUsers.setPassword(home: home.path, name: "alice", password: "alice-secret", cost: authTestCost) },
                    throws: isCorruptError)
            #expect(performing: { try APIUsers.delete(home: home.path, name: "alice") }, throws: isCorruptError)
            #expect(performing: { try APIUsers.ensureDefaultUser(home: home.path, cost: authTestCost) }, throws: isCorruptError)
            #expect(try String(contentsOfFile: home.usersFile, encoding: .utf8) == content)

            // A login is an internal error, not a wrong password (and does not count as a failure).
            let auth = try APIAuth(home: home.path, clusterKey: authKey, settings: .init(), now: AuthClock().function)
            let answer = await auth.authenticate(authorization: basicHeader("alice", "alice-secret"), remoteAddress: "10.0.0.1")
            #expect(answer.authError?.status == 500)
        }
    }

    @Test func defaultUserIsCreatedOnce() async throws {
        try await withAuthHome { home in
            let password = try #require(try APIUsers.ensureDefaultUser(home: home.path, cost: authTestCost))
            #expect(password.count >= 8)
            #expect(APIUsers.passwordProblem(password) == nil)
            #expect(try APIUsers.names(home: home.path) == ["wazuh"])
            #expect(authFileMode(home.usersFile) == 0o600)
            let hash = try #require(APIUsers.load(home: home.path).first?.hash)
            #expect(Bcrypt.verify(password, hash: hash))

            let content = try Data(contentsOf: URL(fileURLWithPath: home.usersFile))
            #expect(try APIUsers.ensureDefaultUser(home: home.path, cost: authTestCost) == nil)
            #expect(try Data(contentsOf: URL(fileURLWithPath: home.usersFile)) == content)

            // It logs in.
            let auth = try APIAuth(home: home.path, clusterKey: authKey, settings: .init(), now: AuthClock().function)
            let token = try #require(await auth.authenticate(authorization: basicHeader("wazuh", password), remoteAddress: "::1").authValue)
            #expect(await auth.verify(authorization: bearerHeader(token)).authValue == "wazuh")
        }
    }

    @Test func defaultUserIsNotAddedToAnExistingFile() async throws {
        try await withAuthHome { home in
            try APIUsers.add(home: home.path, name: "alice", password: "alice-secret", cost: authTestCost)
            try APIUsers.delete(home: home.path, name: "alice")
            // An emptied file is still the operator's choice.
            #expect(try APIUsers.ensureDefaultUser(home: home.path, cost: authTestCost) == nil)
            #expect(try APIUsers.names(home: home.path) == [])
        }
    }

    @Test func randomPasswordsDiffer() {
        let passwords = Set((0..<50).map { _ in APIUsers.randomPassword() })
        #expect(passwords.count == 50)
        #expect(passwords.allSatisfy { APIUsers.passwordProblem($0) == nil })
    }
}
