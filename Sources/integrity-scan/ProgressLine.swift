import Common
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// "checked N/M files" on stderr while a scan runs, only when stderr is a terminal and only once the scan
/// has lasted half a second, so pipelines, logs and quick scans stay quiet.
final class ProgressLine: @unchecked Sendable {
    private let progress: ScanProgress
    private let queue = DispatchQueue(label: "integrity-scan.progress")
    private var timer: DispatchSourceTimer?
    private var drawn = false      // only touched on `queue`
    private var lastDone = -1

    init?(progress: ScanProgress) {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        self.progress = progress
    }

    func start() {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + .milliseconds(500), repeating: .milliseconds(100))
        t.setEventHandler { [self] in
            let (done, total) = progress.snapshot
            guard total > 0, done != lastDone else { return }
            lastDone = done
            draw("\rintegrity-scan: checked \(done)/\(total) files (\(done * 100 / total)%)\u{1B}[K")
            drawn = true
        }
        timer = t
        t.resume()
    }

    /// Stops drawing and erases the line.
    func stop() {
        timer?.cancel()
        queue.sync {
            if drawn { draw("\r\u{1B}[K") }
            drawn = false
        }
    }

    private func draw(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }
}
