import Foundation

extension PackageApplier {
    /// Applies the master package in the file at `packageFile` without holding it in memory: each file is
    /// written to its temporary name as it comes out of the package (a few at once, see `writerThreads`),
    /// and only once the whole package has been read and checked do the renames start.
    ///
    /// The metadata comes last, so the files are staged under the item that accepts their path; then each
    /// is held to the `cluster_item_key` its group declares, and a file that no group of `missing` or
    /// `shared` lists is discarded. `onMetadata` sees the groups before anything becomes visible. When the
    /// package turns out hostile or broken, every temporary file and directory made for it is removed and
    /// the error is thrown: the home is as it was. `budget` bounds the decompressed size of the package.
    /// With `removingPackage`, the package file is deleted once read, whatever the outcome: before the
    /// flush, so that its pages are dropped instead of written out with the new files.
    public func apply(packageFile: String, budget: Int, removingPackage: Bool = false,
                      onMetadata: (IntegrityDiff) -> Void = { _ in }) throws(PackageError) -> ApplyResult {
        let staging = StagingArea(home: home)
        let writers = TemporaryFileWriters(concurrency: writerThreads)
        var staged: [(path: String, permissions: Int)] = []
        var index: [String: Int] = [:]
        let streamed: StreamedPackage
        do {
            let reader = PackageStreamReader(items: items, maxDecompressedSize: budget)
            streamed = try reader.read(file: packageFile) { file in
                // The reader has refused any name no item accepts; this item only sets the permissions
                // until the metadata confirms it.
                let permissions = (try? items.owner(of: file.path).get())?.permissions ?? 0o640
                index[file.path] = staged.count
                staged.append((file.path, permissions))
                if let failure = staging.prepareDirectory(for: file.path) {
                    writers.record(staged.count - 1, failure)
                } else {
                    writers.submit(staged.count - 1, full: home + "/" + file.path, content: file.content,
                                   permissions: permissions)
                }
            }
        } catch {
            if removingPackage { unlink(packageFile) }
            _ = writers.finish()
            discard(staged.map(\.path), staging)
            throw error
        }
        if removingPackage { unlink(packageFile) }
        var failures = writers.finish()
        guard case .sync(let diff) = streamed.metadata else {
            discard(staged.map(\.path), staging)
            throw .notSyncGroups
        }
        onMetadata(diff)

        var result = ApplyResult()
        var writes: [StagedWrite] = []
        var claimed = Set<Int>()
        for (group, isMissing) in [(diff.missing, true), (diff.shared, false)] {
            for (path, metadata) in group {
                guard let i = index[path], claimed.insert(i).inserted else { continue }  // not sent: a later round
                switch items.owner(of: path, declaredKey: metadata.clusterItemKey) {
                case .success(let item):
                    if failures[i] == nil && item.permissions != staged[i].permissions {
                        let temp = StagingArea.temporaryPath(for: home + "/" + path)
                        if chmod(temp, mode_t(item.permissions)) != 0 {
                            failures[i] = "\(SystemCallError("chmod", path: temp, errno: errno))"
                        }
                    }
                    writes.append(StagedWrite(path: path, isMissing: isMissing, failure: failures[i]))
                case .failure(let problem):
                    // The reader refuses such metadata; kept so this never depends on it.
                    unlink(StagingArea.temporaryPath(for: home + "/" + path))
                    result.recordFailure(path, isMissing: isMissing, "\(problem)")
                }
            }
        }
        // A file the groups do not ask for is not written.
        let unclaimed = staged.indices.filter { !claimed.contains($0) }
        for i in unclaimed { unlink(StagingArea.temporaryPath(for: home + "/" + staged[i].path)) }

        commit(writes, into: &result)
        removeExtra(diff.extra, into: &result)
        staging.removeEmptyCreatedDirectories()
        return result
    }

    /// Undoes the staging of a refused package: its temporary files, then the directories made for them.
    private func discard(_ paths: [String], _ staging: StagingArea) {
        for path in paths { unlink(StagingArea.temporaryPath(for: home + "/" + path)) }
        staging.removeEmptyCreatedDirectories()
    }
}
