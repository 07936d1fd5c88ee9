import Foundation

/// A file being received with `new_file` / `file_upd` / `file_end`, watched while it grows: a reader on
/// another thread can consume what has arrived so far and wait for the rest. This is what lets a worker
/// unpack the master's package while it is still being sent, instead of after.
///
/// The receiver reports progress (`advance`), then the end: `complete` once `file_end`'s checksum
/// matched, `fail` when it did not, when the connection closed, or when the consumer gave up (`cancel`).
public final class IncomingFile: @unchecked Sendable {
    public enum End: Equatable, Sendable {
        case complete
        case failed(String)
    }

    /// Absolute path of the file being written.
    public let path: String
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var received = 0
    private var end: End?
    /// Readers blocked in `wait(beyond:)` for bytes not received yet.
    private var blockedReaders = 0

    public init(path: String) { self.path = path }

    public func advance(by count: Int) {
        condition.withLock { received += count }
        condition.broadcast()
    }

    public func complete() { finish(.complete) }

    public func fail(_ reason: String) { finish(.failed(reason)) }

    /// Gives up on the file: a reader waiting for more is woken and fails. The transfer itself goes on.
    public func cancel(_ reason: String) { finish(.failed(reason)) }

    private func finish(_ value: End) {
        condition.withLock { if end == nil { end = value } }
        condition.broadcast()
    }

    /// Bytes received so far and how the transfer ended, if it has.
    public var state: (received: Int, end: End?) { condition.withLock { (received, end) } }

    /// Waits until more than `offset` bytes have arrived or the transfer ended; returns the state then.
    func wait(beyond offset: Int) -> (received: Int, end: End?) {
        condition.lock()
        defer { condition.unlock() }
        if received <= offset && end == nil {
            blockedReaders += 1
            condition.broadcast()  // for waitForBlockedReader
            while received <= offset && end == nil { condition.wait() }
            blockedReaders -= 1
        }
        return (received, end)
    }

    /// Waits until a reader is blocked for bytes not received yet (it has taken all that arrived), or the
    /// transfer has ended. Lets a test act while the reader is known to wait, instead of after a delay.
    func waitForBlockedReader() {
        condition.lock()
        defer { condition.unlock() }
        while blockedReaders == 0 && end == nil { condition.wait() }
    }
}

/// Reads an `IncomingFile` from the start as a byte stream, waiting for bytes not yet received. It ends
/// when the transfer completed and every byte was read; a failed transfer is an error, even when the
/// bytes read so far looked complete.
struct IncomingFileSource: PackageByteSource {
    let file: IncomingFile
    private let fd: Int32
    private var offset = 0

    init(_ file: IncomingFile) throws(PackageError) {
        self.file = file
        fd = open(file.path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .io(SystemCallError("open", path: file.path, errno: errno)) }
    }

    /// Closes the descriptor (the struct is copied by value, so it cannot do this in a deinit).
    func close() { _ = Glibc.close(fd) }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(PackageError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let (received, end) = file.wait(beyond: offset)
            if case .failed(let reason)? = end { throw .transferFailed(reason) }
            if received <= offset { return 0 }  // complete, and all of it read
            let n = pread(fd, buffer.baseAddress, min(buffer.count, received - offset), off_t(offset))
            if n > 0 {
                offset += n
                return n
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .io(SystemCallError("read", path: file.path, errno: errno)) }
            // Reported as received but not in the file: someone truncated it under us.
            throw .transferFailed("\(file.path) is shorter than the \(received) bytes received")
        }
    }

    /// The first `count` bytes (fewer if the file is shorter), waiting for them; the position is unchanged.
    func head(_ count: Int) throws(PackageError) -> [UInt8] {
        while true {
            let (received, end) = file.wait(beyond: count - 1)
            if case .failed(let reason)? = end { throw .transferFailed(reason) }
            let want = min(count, received)
            var bytes = [UInt8](repeating: 0, count: want)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .io(SystemCallError("read", path: file.path, errno: errno)) }
            return Array(bytes.prefix(n))
        }
    }
}
