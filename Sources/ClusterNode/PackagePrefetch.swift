import Common
import Foundation

/// Unpacks the master's package while it is still arriving: once `syn_m_c` is accepted, the next package
/// file the master starts sending into this worker's directory is staged (every file at its temporary
/// name, nothing visible) as its bytes come in, so unpacking overlaps the master's compressing and
/// sending. When `syn_m_c_e` names that same file, the apply only has to commit. Anything else (another
/// file named, an error, a closed connection) gives the staging up and removes what it wrote.
///
/// This changes nothing on the wire: the master's commands are answered exactly as before, and a package
/// that could not be staged early is applied from its file as it always was.
final class PackagePrefetch: @unchecked Sendable {
    private struct Staging {
        let file: IncomingFile
        let task: Task<Result<StagedPackage, PackageError>, Never>
    }

    private let applier: PackageApplier
    private let budget: Int
    /// The worker's package directory, `queue/cluster/<worker>/`.
    private let directory: String
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var armed = false
    private var current: Staging?

    private let pool: CPUPool

    init(home: String, worker: String, budget: Int, pool: CPUPool) {
        self.pool = pool
        applier = PackageApplier(home: home, items: .clusterd)
        self.budget = budget
        directory = Self.standard(home + "/queue/cluster/" + worker) + "/"
    }

    private static func standard(_ path: String) -> String { (path as NSString).standardizingPath }

    /// `syn_m_c` was accepted: the next package file the master starts sending is staged as it arrives.
    func arm() { lock.withLock { armed = true } }

    /// Called by the link, in message order, when a file transfer starts.
    func fileStarted(_ file: IncomingFile) {
        lock.withLock {
            guard armed, current == nil, Self.standard(file.path).hasPrefix(directory) else { return }
            armed = false
            let (applier, budget, pool) = (self.applier, self.budget, self.pool)
            // Owned by this prefetch: `take` and `abandon` (called when the connection closes) wait for it.
            // On the CPU pool, where it waits for the transfer's bytes: nothing the transfer needs runs
            // on the pool (file chunks are decrypted inline, under `FernetOffload.threshold`).
            current = Staging(file: file, task: Task {
                do {
                    return .success(try await pool.run { try applier.stage(incoming: file, budget: budget) })
                } catch let error as PackageError {
                    return .failure(error)
                } catch {
                    return .failure(.transferFailed("\(error)"))
                }
            })
        }
    }

    /// The early staging of the package at `path`, once it is finished, or nil when none was made for
    /// it; a staging of any other file is given up and removed, with that file.
    func take(_ path: String) async -> Result<StagedPackage, PackageError>? {
        let staging: Staging? = lock.withLock {
            defer { (current, armed) = (nil, false) }
            return current
        }
        guard let staging else { return nil }
        // Named before its transfer ended, the file is not the whole package: waiting for the rest could
        // last as long as the connection, so the staging is given up and the file read as it is.
        let named = Self.standard(staging.file.path) == Self.standard(path)
        if named && staging.file.state.end != nil { return await staging.task.value }
        staging.file.cancel(named ? "the master named the package before sending all of it" : "the master named another package")
        if case .success(let staged) = await staging.task.value { applier.discard(staged) }
        // A package no syn_m_c_e named is never applied: its file goes too.
        if !named { unlink(staging.file.path) }
        return nil
    }

    /// Gives up any early staging (the receive failed, the connection closed) and removes what it wrote
    /// and the file it read.
    func abandon() async {
        _ = await take("")
    }
}
