import Foundation
@testable import Common

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `LocalClock` that moves only when the test moves it. A wait blocks in `poll(2)` on the socket and on
/// a pipe of its own that `advance` writes to: the waiter wakes, looks at the new time, and returns at its
/// deadline or waits again. Tests synchronise on the waits themselves (`waitForWaiter`), never on real time.
final class ManualLocalClock: LocalClock, @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var current: Duration = .zero
    /// Waits in progress by number (the n-th wait begun has number n), with their deadlines and the write
    /// end of their wake-up pipes.
    private var waiters: [Int: (deadline: Duration, wake: Int32)] = [:]
    private var begun = 0

    var now: Duration { condition.withLock { current } }

    /// Moves the clock forward and wakes every wait in progress.
    func advance(by duration: Duration) {
        condition.withLock {
            current += duration
            for waiter in waiters.values {
                var byte: UInt8 = 1
                _ = write(waiter.wake, &byte, 1)
            }
        }
    }

    func waitForInput(on descriptor: Int32, until deadline: Duration) -> LocalClockWakeUp {
        while true {
            var wakePipe: [Int32] = [-1, -1]
            guard pipe(&wakePipe) == 0 else { return .failed(errno: errno) }
            defer { close(wakePipe[0]); close(wakePipe[1]) }
            let number: Int? = condition.withLock {
                guard current < deadline else { return nil }
                begun += 1
                waiters[begun] = (deadline, wakePipe[1])
                condition.broadcast()
                return begun
            }
            guard let number else { return .deadline }
            var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)]
            var ready: Int32
            repeat { ready = poll(&fds, 2, -1) } while ready < 0 && errno == EINTR
            let code = errno
            // Unregistered before the pipe closes, so `advance` never writes to a closed descriptor.
            condition.withLock { waiters[number] = nil }
            if ready < 0 { return .failed(errno: code) }
            if fds[0].revents != 0 { return .input }
            // Woken by `advance`: the loop compares the new time with the deadline.
        }
    }

    /// Blocks until a wait is in progress that began after wait number `after`, with deadline `deadline`
    /// when one is given, and returns its number (to pass as `after` next time: "the client went back to
    /// waiting"). Nil when none came within `guardSeconds` of real time, a guard that turns a broken test
    /// into a failure instead of a hang; nothing else here depends on real time.
    func waitForWaiter(after: Int = 0, deadline: Duration? = nil, guardSeconds: Double = 10) -> Int? {
        let giveUp = Date(timeIntervalSinceNow: guardSeconds)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let match = waiters.filter { $0.key > after && (deadline == nil || $0.value.deadline == deadline) }.keys.max()
            if let match { return match }
            if Date() >= giveUp { return nil }
            _ = condition.wait(until: giveUp)
        }
    }
}

/// A call run on a thread of its own, so that the test can drive a `ManualLocalClock` while it blocks.
final class BackgroundCall<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var outcome: Result<Value, any Error>?

    init(_ body: @escaping @Sendable () throws -> Value) {
        Thread { [self] in
            let result = Result { try body() }
            condition.withLock { outcome = result }
            condition.broadcast()
        }.start()
    }

    /// Whether the call has returned (or thrown).
    var isFinished: Bool { condition.withLock { outcome != nil } }

    /// Waits for the call to return and gives its outcome; nil when it did not within `guardSeconds`
    /// of real time (a guard against hanging, not a measurement).
    func wait(guardSeconds: Double = 10) -> Result<Value, any Error>? {
        let giveUp = Date(timeIntervalSinceNow: guardSeconds)
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil && Date() < giveUp { _ = condition.wait(until: giveUp) }
        return outcome
    }
}
