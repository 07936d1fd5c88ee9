import Common
import Crypto
import Foundation

/// Sending side of the file transfer (`new_file` / `file_upd` / `file_end`, PROTOCOL.md §4.2).
extension PeerLink {
    /// Plaintext bytes of file per `file_upd` (4.8.1 sends `request_chunk`, 5 MiB). Each chunk is held
    /// several times over while it is encrypted, encoded and written, and sending waits for the reply
    /// anyway, so a smaller chunk costs a little latency and saves most of the transfer's memory.
    public static let fileChunk = 1 << 20

    /// Sends the file at `path` (inside the node home) with `new_file` / `file_upd` / `file_end`.
    /// Stops sending chunks when the peer cancels `taskID`. Returns the bytes sent and whether it was cancelled.
    @discardableResult
    public func sendFile(_ path: String, taskID: String? = nil,
                         chunkSize: Int = PeerLink.fileChunk) async throws -> (bytes: Int, cancelled: Bool) {
        guard let home else { throw WazuhException.cluster(3034, path) }
        let root = (home as NSString).standardizingPath
        guard path.hasPrefix(root + "/") else { throw WazuhException.cluster(3034, path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WazuhException.cluster(3034, path) }
        defer { closeDescriptor(fd) }
        let relpath = Array(String(path.dropFirst(root.count)).utf8)
        _ = try await request("new_file", relpath)
        let dataSize = max(1, min(chunkSize, WireLimits.requestChunk - relpath.count - 1))
        var hash = SHA256()
        var sent = 0
        var cancelled = false
        while true {
            // The payload is built in place: the path, a space, then the chunk read straight after them.
            let payload = try Self.readChunk(fd, path: path, prefix: relpath + [0x20], count: dataSize)
            if payload.count == relpath.count + 1 { break }
            _ = try await request("file_upd", payload)
            hash.update(data: payload[(relpath.count + 1)...])
            sent += payload.count - relpath.count - 1
            if let taskID, wasInterrupted(taskID) { cancelled = true; break }
        }
        _ = try await request("file_end", relpath + [0x20] + Array(hash.finalize()))
        return (sent, cancelled)
    }

    /// `prefix` followed by up to `count` bytes of the file (fewer only at its end).
    private static func readChunk(_ fd: Int32, path: String, prefix: [UInt8], count: Int) throws -> [UInt8] {
        var failure: Int32 = 0
        let payload = [UInt8](unsafeUninitializedCapacity: prefix.count + count) { buffer, filled in
            _ = buffer.initialize(from: prefix)
            filled = prefix.count
            while filled < buffer.count {
                let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n > 0 { filled += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                break
            }
        }
        if failure != 0 { throw SystemCallError("read", path: path, errno: failure) }
        return payload
    }
}

/// `close(2)`, named apart from `PeerLink.close()`.
private func closeDescriptor(_ fd: Int32) {
    close(fd)
}

extension PeerLink {
    /// Sends a file that is being produced while it is sent (a package built as it goes out), with
    /// `new_file` / `file_upd` / `file_end` under the name `relpath` (relative to the home, leading `/`).
    /// `produce` runs on the CPU pool and hands over its bytes through `take` in chunks of the
    /// size it is given; it is at most a few chunks ahead of the sending. When the peer cancels `taskID`,
    /// sending stops and `produce` is stopped too (its `take` throws `PackageError.cancelled`): the value
    /// is nil then. `file_end` is sent in every case, with the checksum of what was sent, so the receiver
    /// closes the file; an error of `produce` is thrown after it.
    public func sendStream<T: Sendable>(
        _ relpath: String, taskID: String? = nil, chunkSize: Int = PeerLink.fileChunk,
        produce: @escaping @Sendable (_ chunkSize: Int, _ take: @escaping ([UInt8]) throws(PackageError) -> Void) throws -> T
    ) async throws -> (bytes: Int, cancelled: Bool, value: T?) {
        let name = Array(relpath.utf8)
        _ = try await request("new_file", name)
        let dataSize = max(1, min(chunkSize, WireLimits.requestChunk - name.count - 1))
        let pipe = ChunkPipe(depth: 4)
        // On the CPU pool; it only waits for the sending below, which never needs the pool (file chunks
        // are encrypted inline, under `FernetOffload.threshold`).
        async let produced = pool.result { () throws -> T in
            defer { pipe.close() }
            return try produce(dataSize, pipe.put)
        }
        var hash = SHA256()
        var sent = 0
        var cancelled = false
        var sendError: (any Error)?
        do {
            for await chunk in pipe.chunks {
                pipe.taken()
                _ = try await request("file_upd", name + [0x20] + chunk)
                hash.update(data: chunk)
                sent += chunk.count
                if let taskID, wasInterrupted(taskID) { cancelled = true; break }
            }
        } catch {
            sendError = error
        }
        pipe.stop()
        let outcome = await produced
        if let sendError { throw sendError }
        _ = try await request("file_end", name + [0x20] + Array(hash.finalize()))
        switch outcome {
        case .success(let value):
            return (sent, cancelled, value)
        case .failure(let error):
            if cancelled, let stop = error as? PackageError, stop == .cancelled {
                return (sent, true, nil)
            }
            throw error
        }
    }
}

/// Chunks made on one thread and sent by an async task, the maker at most `depth` chunks ahead. (A
/// condition and a count rather than a semaphore: libdispatch traps when a semaphore is released below
/// its initial value, which is exactly the state a stopped transfer leaves.)
final class ChunkPipe: @unchecked Sendable {
    let chunks: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let depth: Int
    private let condition = NSCondition()
    /// Guarded by `condition`: chunks handed over and not yet taken, and whether the sender stopped.
    private var queued = 0
    private var stopped = false

    init(depth: Int) {
        (chunks, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        self.depth = max(1, depth)
    }

    /// Maker: waits while `depth` chunks are queued; throws `.cancelled` once the sender stopped.
    func put(_ chunk: [UInt8]) throws(PackageError) {
        condition.lock()
        while queued >= depth && !stopped { condition.wait() }
        let stop = stopped
        if !stop { queued += 1 }
        condition.unlock()
        if stop { throw .cancelled }
        continuation.yield(chunk)
    }

    /// Maker: no more chunks.
    func close() { continuation.finish() }

    /// Sender: a chunk was taken off the queue.
    func taken() {
        condition.withLock { queued -= 1 }
        condition.signal()
    }

    /// Sender: no more chunks are wanted; a waiting maker wakes and fails.
    func stop() {
        condition.withLock { stopped = true }
        condition.broadcast()
    }
}
