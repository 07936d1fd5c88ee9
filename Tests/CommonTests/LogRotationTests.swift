import Foundation
import Synchronization
import Testing
@testable import Common

/// A clock the test moves by hand: `sleep(until:)` returns once `set` has reached its deadline, and
/// `nextSleeper` waits until someone sleeps on it (so the test moves time only once the sleeper has read it).
final class ManualLogClock: LogClock {
    private struct Sleeper {
        let id: Int
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Sleeper] = []
        var sleeperWaiters: [CheckedContinuation<Date, Never>] = []
    }

    private let state: Mutex<State>

    init(_ now: Date) { state = Mutex(State(now: now)) }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(until deadline: Date) async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let (resumeNow, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Date, Never>]) in
                    if Task.isCancelled || s.now >= deadline { return (true, []) }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    defer { s.sleeperWaiters = [] }
                    return (false, s.sleeperWaiters)
                }
                if resumeNow {
                    if Task.isCancelled { c.resume(throwing: CancellationError()) } else { c.resume() }
                }
                for w in waiters { w.resume(returning: deadline) }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Waits until a task sleeps on this clock; returns its deadline.
    func nextSleeper() async -> Date {
        await withCheckedContinuation { c in
            let current = state.withLock { s -> Date? in
                if let first = s.sleepers.first { return first.deadline }
                s.sleeperWaiters.append(c)
                return nil
            }
            if let current { c.resume(returning: current) }
        }
    }

    /// Moves the clock to `date`, waking the sleepers whose deadline it reaches.
    func set(_ date: Date) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = date
            let due = s.sleepers.filter { $0.deadline <= date }
            s.sleepers.removeAll { $0.deadline <= date }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// `cluster.log` rotation (§3.4, issue #13): the archive's name and modes, the midnight trigger driven by
/// an injected clock, no line lost or doubled across a rotation, archives of earlier days at start, and
/// reopening after the file was moved away.
@Suite struct LogRotationTests {
    /// Local time, as the rotation computes days.
    static func local(_ year: Int32, _ month: Int32, _ day: Int32, _ hour: Int32 = 0, _ minute: Int32 = 0, _ second: Int32 = 0) -> Date {
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        parts.tm_isdst = -1
        return Date(timeIntervalSince1970: Double(mktime(&parts)))
    }

    /// The text of a gzip file (every member), by gzip itself.
    static func gunzip(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "gzip -dc \(path)")
        return String(decoding: data, as: UTF8.self)
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func archiveNameAndNextMidnight() {
        let rotation = LogRotation(logsDirectory: "/var/ossec/logs")
        #expect(rotation.archivePath(for: Self.local(2024, 6, 1, 23, 59, 59)) == "/var/ossec/logs/cluster/2024/Jun/cluster-01.log.gz")
        #expect(rotation.archivePath(for: Self.local(2025, 12, 31, 0, 0, 1)) == "/var/ossec/logs/cluster/2025/Dec/cluster-31.log.gz")
        #expect(rotation.archivePath(for: Self.local(2026, 1, 9, 12)) == "/var/ossec/logs/cluster/2026/Jan/cluster-09.log.gz")
        #expect(LogRotation.nextMidnight(after: Self.local(2024, 6, 1, 10)) == Self.local(2024, 6, 2))
        #expect(LogRotation.nextMidnight(after: Self.local(2024, 6, 1)) == Self.local(2024, 6, 2))
        #expect(LogRotation.nextMidnight(after: Self.local(2024, 12, 31, 23, 59, 59)) == Self.local(2025, 1, 1))
        #expect(LogRotation.nextMidnight(after: Self.local(2024, 2, 28, 12)) == Self.local(2024, 2, 29))
    }

    @Test func midnightRotationDrivenByTheClock() async throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let clock = ManualLogClock(Self.local(2024, 6, 1, 10))
        let log = try ClusterLog(path: rotation.logPath, level: .info, mirrorToStderr: false, now: { clock.now() })
        let maintenance = LogMaintenance(log: log, rotation: rotation, clock: clock) { body in try body() }
        let (archives, archived) = AsyncStream.makeStream(of: String.self)
        var iterator = archives.makeAsyncIterator()
        for i in 0..<3 { log.info(tag: "Cluster", subtag: "Main", "June 1st line \(i)") }

        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await maintenance.runMidnightRotation { archived.yield($0) } }
            #expect(await clock.nextSleeper() == Self.local(2024, 6, 2))
            clock.set(Self.local(2024, 6, 2, 0, 0, 3))
            let first = await iterator.next()
            #expect(first == dir.path + "/cluster/2024/Jun/cluster-01.log.gz")
            for i in 0..<2 { log.info(tag: "Cluster", subtag: "Main", "June 2nd line \(i)") }

            // The next midnight is the one after the day the loop woke up in.
            #expect(await clock.nextSleeper() == Self.local(2024, 6, 3))
            clock.set(Self.local(2024, 6, 3, 0, 1))
            #expect(await iterator.next() == dir.path + "/cluster/2024/Jun/cluster-02.log.gz")
            log.info(tag: "Cluster", subtag: "Main", "June 3rd")
            group.cancelAll()
        }

        let day1 = try Self.gunzip(dir.path + "/cluster/2024/Jun/cluster-01.log.gz")
        #expect(day1 == (0..<3).map { "2024/06/01 10:00:00 INFO: [Cluster] [Main] June 1st line \($0)\n" }.joined())
        let day2 = try Self.gunzip(dir.path + "/cluster/2024/Jun/cluster-02.log.gz")
        #expect(day2.split(separator: "\n").map(String.init) == (0..<2).map { "2024/06/02 00:00:03 INFO: [Cluster] [Main] June 2nd line \($0)" })
        #expect(Self.text(rotation.logPath) == "2024/06/03 00:01:00 INFO: [Cluster] [Main] June 3rd\n")
        #expect(Self.mode(rotation.logPath) == 0o660)
        for archive in ["2024/Jun/cluster-01.log.gz", "2024/Jun/cluster-02.log.gz"] {
            #expect(Self.mode(dir.path + "/cluster/" + archive) == 0o640)
        }
        for directory in ["cluster", "cluster/2024", "cluster/2024/Jun"] {
            #expect(Self.mode(dir.path + "/" + directory) == 0o750, "\(directory)")
        }
        // Only the archives and their directories: no pending or temporary file stays.
        let left = try FileManager.default.subpathsOfDirectory(atPath: dir.path + "/cluster").sorted()
        #expect(left == ["2024", "2024/Jun", "2024/Jun/cluster-01.log.gz", "2024/Jun/cluster-02.log.gz"])
    }

    @Test func linesWrittenDuringRotationAreNeitherLostNorDoubled() throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let log = try ClusterLog(path: rotation.logPath, level: .info, mirrorToStderr: false)
        let writers = 4, perWriter = 3000
        let started = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for w in 0..<writers {
            DispatchQueue.global().async(group: group) {
                started.signal()
                for i in 0..<perWriter { log.info(tag: "Worker w\(w)", subtag: "Main", "line \(w)-\(i)") }
            }
        }
        for _ in 0..<writers { started.wait() }
        // Rotations while the writers write, each into the archive of another day, until they are done.
        var archives: [String] = []
        var day = Self.local(2024, 3, 1, 12)
        repeat {
            if let pending = try rotation.detach(log, day: day) {
                try pending.compress()
                archives.append(pending.archive)
            }
            day = day.addingTimeInterval(86_400)
        } while group.wait(timeout: .now()) == .timedOut || archives.count < 3
        var lines = try archives.flatMap { try Self.gunzip($0).split(separator: "\n") }
        lines += Self.text(rotation.logPath).split(separator: "\n")
        #expect(lines.allSatisfy { $0.contains(#/ INFO: \[Worker w\d\] \[Main\] line \d+-\d+$/#) })
        let seen = lines.map { String($0[$0.range(of: "] line ")!.upperBound...]) }
        #expect(seen.count == writers * perWriter, "no line lost or doubled")
        #expect(Set(seen) == Set((0..<writers).flatMap { w in (0..<perWriter).map { "\(w)-\($0)" } }))
    }

    @Test func anArchiveOfTheSameDayKeepsItsLines() throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let log = try ClusterLog(path: rotation.logPath, level: .info, mirrorToStderr: false)
        let day = Self.local(2024, 6, 1, 8)
        log.info(tag: "Cluster", subtag: "Main", "first")
        try #require(try rotation.detach(log, day: day)).compress()
        log.info(tag: "Cluster", subtag: "Main", "second")
        try #require(try rotation.detach(log, day: day)).compress()
        let text = try Self.gunzip(rotation.archivePath(for: day))
        #expect(text.split(separator: "\n").map { $0.split(separator: " ").last.map(String.init) } == ["first", "second"])
    }

    @Test func aLogOfAnEarlierDayIsArchivedAtStart() throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let old = "2024/06/01 23:00:00 INFO: [Cluster] [Main] before the daemon stopped\n"
        try old.write(toFile: rotation.logPath, atomically: false, encoding: .utf8)
        let lastWrite = Self.local(2024, 6, 1, 23, 0, 5)
        try FileManager.default.setAttributes([.modificationDate: lastWrite], ofItemAtPath: rotation.logPath)
        // The same day: nothing to archive yet.
        #expect(try rotation.archiveStale(now: Self.local(2024, 6, 1, 23, 30)) == nil)
        #expect(Self.text(rotation.logPath) == old)
        let archive = try rotation.archiveStale(now: Self.local(2024, 6, 3, 9))
        #expect(archive == dir.path + "/cluster/2024/Jun/cluster-01.log.gz")
        #expect(try Self.gunzip(dir.path + "/cluster/2024/Jun/cluster-01.log.gz") == old)
        #expect(!FileManager.default.fileExists(atPath: rotation.logPath))
        // An empty log is not archived.
        try "".write(toFile: rotation.logPath, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: lastWrite], ofItemAtPath: rotation.logPath)
        #expect(try rotation.archiveStale(now: Self.local(2024, 6, 3, 9)) == nil)
    }

    @Test func aPendingFileOfAnInterruptedRotationIsCompressed() throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let archive = rotation.archivePath(for: Self.local(2024, 6, 1, 12))
        dir.write("cluster/2024/Jun/cluster-01.log.gz.pending", "2024/06/01 12:00:00 INFO: [Cluster] [Main] pending\n")
        #expect(rotation.finishPending() == [archive])
        #expect(try Self.gunzip(archive) == "2024/06/01 12:00:00 INFO: [Cluster] [Main] pending\n")
        #expect(!FileManager.default.fileExists(atPath: archive + ".pending"))
        #expect(rotation.finishPending().isEmpty)
    }

    @Test func reopenAfterTheFileWasMovedAway() throws {
        let dir = TemporaryDirectory()
        let rotation = LogRotation(logsDirectory: dir.path)
        let log = try ClusterLog(path: rotation.logPath, level: .info, mirrorToStderr: false)
        let maintenance = LogMaintenance(log: log, rotation: rotation) { body in try body() }
        log.info(tag: "Cluster", subtag: "Main", "before")
        #expect(rename(rotation.logPath, rotation.logPath + ".1") == 0)
        log.info(tag: "Cluster", subtag: "Main", "still to the moved file")
        maintenance.reopen()
        log.info(tag: "Cluster", subtag: "Main", "after")
        let moved = Self.text(rotation.logPath + ".1").split(separator: "\n")
        #expect(moved.count == 2 && moved[0].hasSuffix("before") && moved[1].hasSuffix("still to the moved file"))
        let fresh = Self.text(rotation.logPath).split(separator: "\n")
        #expect(fresh.count == 2 && fresh[0].hasSuffix("SIGHUP received: log file reopened.") && fresh[1].hasSuffix("after"))
        #expect(Self.mode(rotation.logPath) == 0o660)
        // A rotation with the file gone only starts a new one.
        #expect(rename(rotation.logPath, rotation.logPath + ".2") == 0)
        #expect(try rotation.detach(log, day: Date()) == nil)
        log.info(tag: "Cluster", subtag: "Main", "new file")
        #expect(Self.text(rotation.logPath).hasSuffix("new file\n"))
    }
}
