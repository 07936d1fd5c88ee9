import Foundation

/// stdout and stderr writing. stdout is buffered for speed and flushed before anything goes to stderr,
/// so the two streams interleave in the order things happened when both go to a terminal.
enum Output {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending = Data()

    static func line(_ text: String, flush: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        pending.append(contentsOf: Array(text.utf8))
        pending.append(0x0A)
        if flush || pending.count >= 1 << 16 { flushLocked() }
    }

    static func flush() {
        lock.lock()
        defer { lock.unlock() }
        flushLocked()
    }

    private static func flushLocked() {
        guard !pending.isEmpty else { return }
        do {
            try FileHandle.standardOutput.write(contentsOf: pending)
        } catch {
            // The reader went away (EPIPE with SIGPIPE ignored) or the disk is full: nothing left to do.
            exit(ExitStatus.usage)
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// `frame-dump: <text>` on stderr.
    static func error(_ text: String) {
        flush()
        try? FileHandle.standardError.write(contentsOf: Data("frame-dump: \(text)\n".utf8))
    }

    static func warning(_ text: String) { error("warning: \(text)") }
}
