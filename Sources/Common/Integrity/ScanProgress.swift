import Foundation

/// Counters a long scan updates so a caller on another thread can draw a progress line.
public final class ScanProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var _total = 0
    private var _done = 0

    public init() {}

    /// Files to hash and files hashed so far.
    public var snapshot: (done: Int, total: Int) {
        lock.lock(); defer { lock.unlock() }
        return (_done, _total)
    }

    func start(total: Int) {
        lock.lock(); _total = total; _done = 0; lock.unlock()
    }

    func add(_ n: Int) {
        lock.lock(); _done += n; lock.unlock()
    }
}
