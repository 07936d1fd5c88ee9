import Foundation
import Testing
@testable import Common

/// `cluster.log` lines (§3.4): format, levels, file mode, filtering, concurrency.
@Suite struct ClusterLogTests {
    static var linePattern: Regex<(Substring, Substring, Substring, Substring, Substring)> { #/^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (DEBUG2|DEBUG|INFO|WARNING|ERROR): \[([^\]]*)\] \[([^\]]*)\] (.*)$/# }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func lineFormat() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/cluster.log"
        let log = try ClusterLog(path: path, level: .info, mirrorToStderr: false)
        log.info(tag: "Local Server", subtag: "Main", "Serving on /var/ossec/queue/cluster/c-internal.sock")
        log.warning(tag: "Worker worker1", subtag: "Integrity sync", "Slow.")
        let written = try lines(path)
        #expect(written.count == 2)
        let first = try #require(written[0].wholeMatch(of: Self.linePattern))
        #expect(first.1 == "INFO" && first.2 == "Local Server" && first.3 == "Main")
        #expect(first.4 == "Serving on /var/ossec/queue/cluster/c-internal.sock")
        #expect(written[1].hasSuffix(" WARNING: [Worker worker1] [Integrity sync] Slow."))
    }

    @Test func timestampIsLocalTimeWithoutMilliseconds() {
        // 2024-06-01 10:00:00 in this process's time zone.
        var parts = tm()
        parts.tm_year = 124; parts.tm_mon = 5; parts.tm_mday = 1; parts.tm_hour = 10; parts.tm_isdst = -1
        let epoch = mktime(&parts)
        let date = Date(timeIntervalSince1970: Double(epoch) + 0.75)
        #expect(ClusterLog.format(date: date, level: .debug2, tag: "Master", subtag: "Keep alive", message: "Calculating.")
                == "2024/06/01 10:00:00 DEBUG2: [Master] [Keep alive] Calculating.\n")
    }

    @Test func levelFilteringSkipsTheMessage() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/cluster.log"
        let log = try ClusterLog(path: path, level: .info, mirrorToStderr: false)
        nonisolated(unsafe) var built = 0
        func expensive() -> String { built += 1; return "detail" }
        log.debug(tag: "Master", subtag: "Main", expensive())
        log.debug2(tag: "Master", subtag: "Main", expensive())
        #expect(built == 0)
        log.level = .debug2
        log.debug2(tag: "Master", subtag: "Main", expensive())
        log.error(tag: "Master", subtag: "Main", "boom")
        #expect(built == 1)
        let levels = try lines(path).compactMap { $0.wholeMatch(of: Self.linePattern).map { String($0.1) } }
        #expect(levels == ["DEBUG2", "ERROR"])
        #expect(LogLevel.debug2 < .debug && LogLevel.debug < .info && LogLevel.info < .warning && LogLevel.warning < .error)
        #expect(LogLevel.allCases.map(\.name) == ["DEBUG2", "DEBUG", "INFO", "WARNING", "ERROR"])
    }

    @Test func fileIsCreated0660AndAppended() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/cluster.log"
        try "2024/01/01 00:00:00 INFO: [Cluster] [Main] old\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        do {
            let log = try ClusterLog(path: path, level: .info, mirrorToStderr: false)
            log.info(tag: "Cluster", subtag: "Main", "new")
        }
        let written = try lines(path)
        #expect(written.count == 2 && written[0].hasSuffix("old") && written[1].hasSuffix("new"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o660)

        let fresh = dir.path + "/fresh.log"
        _ = try ClusterLog(path: fresh, level: .info, mirrorToStderr: false)
        #expect(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int == 0o660)
    }

    @Test func unopenableFileNamesThePath() {
        #expect(throws: ClusterLogError.self) { try ClusterLog(path: "/nonexistent-dir/cluster.log", level: .info, mirrorToStderr: false) }
        do {
            _ = try ClusterLog(path: "/nonexistent-dir/cluster.log", level: .info, mirrorToStderr: false)
        } catch {
            #expect("\(error)".contains("/nonexistent-dir/cluster.log"))
        }
    }

    @Test func concurrentLinesDoNotInterleave() async throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/cluster.log"
        let log = try ClusterLog(path: path, level: .info, mirrorToStderr: false)
        let payload = String(repeating: "x", count: 3000)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<50 { log.info(tag: "Worker w\(t)", subtag: "Main", "\(i) \(payload)") }
                }
            }
        }
        let written = try lines(path)
        #expect(written.count == 400)
        #expect(written.allSatisfy { $0.wholeMatch(of: Self.linePattern) != nil && $0.hasSuffix(payload) })
    }
}
