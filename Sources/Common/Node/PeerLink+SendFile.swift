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
