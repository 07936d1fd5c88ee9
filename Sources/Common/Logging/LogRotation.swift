import CZlib
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What time it is, and a wait until a given time: the clock of the log's midnight rotation. Tests pass
/// one they move by hand, so a rotation happens without waiting for a real midnight.
public protocol LogClock: Sendable {
    func now() -> Date
    /// Returns once `now()` has reached `deadline`; throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The wall clock. It sleeps a minute at most at a time and looks at the wall clock again after each,
/// so a clock step (NTP, a suspended machine) does not move the rotation away from midnight.
public struct SystemLogClock: LogClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64((min(left, 60) * 1000).rounded(.up))))
        }
    }
}

/// The daily archive of `cluster.log`: at local midnight the day's file is compressed to
/// `logs/cluster/<YYYY>/<Mon>/cluster-<DD>.log.gz` (directories 0750, file 0640, `<Mon>` the English
/// abbreviation, `<DD>` the day its lines belong to) and a new, empty `cluster.log` takes the next lines.
///
/// The file is first renamed to a pending name beside its archive, under the log's line lock (so no line
/// is lost or written twice), and compressed from there; a pending file that a crash left is compressed
/// at the next start (`finishPending`). An archive that exists already (the clock was set back) keeps its
/// lines: the new gzip member is appended to it, and `gunzip` reads both.
public struct LogRotation: Sendable {
    /// `<home>/logs`.
    public let logsDirectory: String

    public init(logsDirectory: String) {
        self.logsDirectory = logsDirectory
    }

    public var logPath: String { logsDirectory + "/cluster.log" }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let pendingSuffix = ".pending"

    /// The archive of the lines of `day` (its local date).
    public func archivePath(for day: Date) -> String {
        let parts = Self.localParts(day)
        let dd = parts.tm_mday < 10 ? "0\(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(logsDirectory)/cluster/\(parts.tm_year + 1900)/\(Self.months[Int(parts.tm_mon)])/cluster-\(dd).log.gz"
    }

    /// The first local midnight after `date` (a day later on the calendar, whatever its length).
    public static func nextMidnight(after date: Date) -> Date {
        var parts = localParts(date)
        parts.tm_mday += 1
        parts.tm_hour = 0
        parts.tm_min = 0
        parts.tm_sec = 0
        parts.tm_isdst = -1
        return Date(timeIntervalSince1970: Double(mktime(&parts)))
    }

    static func localParts(_ date: Date) -> tm {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&t, &parts)
        return parts
    }

    /// A log file renamed out of the way, waiting to be compressed into its archive.
    public struct Pending: Sendable {
        public let path: String
        public let archive: String

        /// Compresses the file into its archive, then removes it.
        public func compress() throws(ClusterLogError) {
            try LogRotation.compress(path, into: archive)
            unlink(path)
        }
    }

    /// Moves the lines `log` holds (those of `day`) to a pending file and starts a new log file; nil when
    /// there was no file (someone moved it away: the log was reopened at its path).
    public func detach(_ log: ClusterLog, day: Date) throws(ClusterLogError) -> Pending? {
        let archive = archivePath(for: day)
        try makeDirectories(for: archive)
        let pending = archive + Self.pendingSuffix
        // A pending file of the same name (a compression that failed earlier today) goes first.
        if access(pending, F_OK) == 0 { try Pending(path: pending, archive: archive).compress() }
        return try log.detach(to: pending) ? Pending(path: pending, archive: archive) : nil
    }

    /// Before the daemon opens its log: a `cluster.log` last written on an earlier day than `now` (the
    /// daemon was not running at midnight) is archived under the day of its last line. Returns the archive.
    @discardableResult
    public func archiveStale(now: Date) throws(ClusterLogError) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: logPath),
              let size = attributes[.size] as? Int, size > 0,
              let modified = attributes[.modificationDate] as? Date
        else { return nil }
        guard Self.nextMidnight(after: modified) <= now else { return nil }
        let archive = archivePath(for: modified)
        try makeDirectories(for: archive)
        let pending = archive + Self.pendingSuffix
        if access(pending, F_OK) == 0 { try Pending(path: pending, archive: archive).compress() }
        guard rename(logPath, pending) == 0 else {
            throw ClusterLogError(path: logPath, reason: "cannot rename it to \(pending): \(String(cString: strerror(errno)))")
        }
        try Pending(path: pending, archive: archive).compress()
        return archive
    }

    /// What the daemon does before it opens its log: compresses what an interrupted rotation left and
    /// archives a log of an earlier day. Returns the lines to log about it.
    public func prepareAtStart(now: Date) -> [String] {
        var notes = finishPending().map { "Compressed the log left by an interrupted rotation to \($0)." }
        do {
            if let archive = try archiveStale(now: now) { notes.append("Archived the log of an earlier day to \(archive).") }
        } catch {
            notes.append("Could not archive the log of an earlier day: \(error)")
        }
        return notes
    }

    /// Compresses the pending files an interrupted rotation left; returns their archives.
    public func finishPending() -> [String] {
        let fm = FileManager.default
        let root = logsDirectory + "/cluster"
        var done: [String] = []
        for year in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            for month in (try? fm.contentsOfDirectory(atPath: root + "/" + year)) ?? [] {
                let dir = root + "/" + year + "/" + month
                for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasSuffix(".log.gz" + Self.pendingSuffix) {
                    let pending = Pending(path: dir + "/" + name, archive: dir + "/" + String(name.dropLast(Self.pendingSuffix.count)))
                    if (try? pending.compress()) != nil { done.append(pending.archive) }
                }
            }
        }
        return done
    }

    /// Makes the directories of `archive` below the logs directory, mode 0750.
    func makeDirectories(for archive: String) throws(ClusterLogError) {
        let relative = archive.dropFirst(logsDirectory.count + 1).split(separator: "/").dropLast()
        var path = logsDirectory
        for component in relative {
            path += "/" + component
            if mkdir(path, 0o750) == 0 {
                chmod(path, 0o750)  // whatever the umask
            } else if errno != EEXIST {
                throw ClusterLogError(path: path, reason: "cannot create the archive directory: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// gzip of `source` as a new member at the end of `archive` (created 0640), written to a temporary file
    /// and renamed over the archive, so a reader sees the old archive or the complete new one.
    static func compress(_ source: String, into archive: String) throws(ClusterLogError) {
        func failure(_ path: String, _ what: String) -> ClusterLogError {
            ClusterLogError(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let slash = archive.lastIndex(of: "/")!
        let temp = String(archive[...slash]) + "." + String(archive[archive.index(after: slash)...]) + ".tmp"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure(source, "cannot open it to compress it") }
        defer { close(input) }
        let out = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard out >= 0 else { throw failure(temp, "cannot create it") }
        var keep = false
        defer { if !keep { unlink(temp) } }
        fchmod(out, 0o640)
        let size = 1 << 16
        var buffer = [UInt8](repeating: 0, count: size)
        // The archive of the same day, if any, first: its lines stay.
        let previous = open(archive, O_RDONLY | O_CLOEXEC)
        if previous >= 0 {
            defer { close(previous) }
            while true {
                let n = read(previous, &buffer, size)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { close(out); throw failure(archive, "cannot read it") }
                if n == 0 { break }
                guard writeAll(out, buffer, n) else { close(out); throw failure(temp, "cannot write it") }
            }
        }
        // gzdopen writes from the descriptor's position and closes it with the stream.
        guard let gz = gzdopen(out, "wb6") else { close(out); throw ClusterLogError(path: temp, reason: "gzdopen failed") }
        while true {
            let n = read(input, &buffer, size)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { gzclose(gz); throw failure(source, "cannot read it") }
            if n == 0 { break }
            guard gzwrite(gz, buffer, UInt32(n)) == Int32(n) else {
                gzclose(gz)
                throw ClusterLogError(path: temp, reason: "cannot write the compressed log")
            }
        }
        guard gzclose(gz) == Z_OK else { throw ClusterLogError(path: temp, reason: "cannot finish the compressed log") }
        let flush = open(temp, O_RDONLY | O_CLOEXEC)
        if flush >= 0 { fsync(flush); close(flush) }
        guard rename(temp, archive) == 0 else { throw failure(archive, "cannot rename the compressed log to it") }
        keep = true
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ count: Int) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < count {
                let n = write(fd, raw.baseAddress! + offset, count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }
}

/// The log's upkeep while the daemon runs: the midnight rotation and the reopening after `SIGHUP`.
/// Compression runs through `offload` (the daemon's CPU pool), off the cooperative threads.
public struct LogMaintenance: Sendable {
    public let log: ClusterLog
    public let rotation: LogRotation
    public let clock: any LogClock
    public let offload: @Sendable (@escaping @Sendable () throws -> Void) async throws -> Void

    public init(log: ClusterLog, rotation: LogRotation, clock: any LogClock = SystemLogClock(),
                offload: @escaping @Sendable (@escaping @Sendable () throws -> Void) async throws -> Void) {
        self.log = log
        self.rotation = rotation
        self.clock = clock
        self.offload = offload
    }

    /// Rotates the log at every local midnight until the task is cancelled; each archive written is
    /// passed to `rotated`.
    public func runMidnightRotation(rotated: @Sendable (String) -> Void = { _ in }) async throws {
        var day = clock.now()
        while true {
            try await clock.sleep(until: LogRotation.nextMidnight(after: day))
            let next = clock.now()
            do {
                if let pending = try rotation.detach(log, day: day) {
                    try await offload { try pending.compress() }
                    log.debug(tag: "Cluster", subtag: "Main", "Log rotated: the previous lines are in \(pending.archive).")
                    rotated(pending.archive)
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                log.error(tag: "Cluster", subtag: "Main", "Could not rotate the log: \(error)")
            }
            day = next
        }
    }

    /// `SIGHUP`: the log file is opened again at its path (a new one if it was moved away).
    public func reopen() {
        do {
            try log.reopen()
            log.info(tag: "Cluster", subtag: "Main", "SIGHUP received: log file reopened.")
        } catch {
            log.error(tag: "Cluster", subtag: "Main", "SIGHUP received, but the log file could not be reopened: \(error)")
        }
    }
}
