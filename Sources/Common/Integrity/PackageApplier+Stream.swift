import Foundation

/// A master package whose files sit at their temporary names, none of them visible yet: the first half
/// of an apply. `PackageApplier.commit` makes it visible; `discard` removes every trace of it.
public final class StagedPackage: @unchecked Sendable {
    fileprivate let staging: StagingArea
    /// Each file delivered, in package order, with the mode and owner its temporary file was given.
    fileprivate let staged: [(path: String, attributes: FileAttributes)]
    fileprivate let index: [String: Int]
    /// Why a file could not be staged, by its number.
    fileprivate let failures: [Int: String]
    public let package: StreamedPackage
    /// Settled by `commit` or `discard`; the other one then does nothing.
    fileprivate var settled = false

    fileprivate init(staging: StagingArea, staged: [(path: String, attributes: FileAttributes)], index: [String: Int],
                     failures: [Int: String], package: StreamedPackage) {
        self.staging = staging
        self.staged = staged
        self.index = index
        self.failures = failures
        self.package = package
    }
}

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
        let staged: StagedPackage
        do {
            staged = try stage(budget: budget) { reader, deliver throws(PackageError) in
                try reader.read(file: packageFile, deliver)
            }
        } catch {
            if removingPackage { unlink(packageFile) }
            throw error
        }
        return try commit(staged, removingPackage: removingPackage ? packageFile : nil, onMetadata: onMetadata)
    }

    /// The first half of an apply, for a package still being received: its files are staged as the bytes
    /// arrive, so that unpacking overlaps the transfer. Nothing is visible until `commit`. A transfer that
    /// fails, or a package found hostile or broken, leaves nothing behind and throws.
    public func stage(incoming file: IncomingFile, budget: Int) throws(PackageError) -> StagedPackage {
        try stage(budget: budget) { reader, deliver throws(PackageError) in try reader.read(incoming: file, deliver) }
    }

    private func stage(budget: Int, reading: (PackageStreamReader, (PackageFile) throws(PackageError) -> Void)
                       throws(PackageError) -> StreamedPackage) throws(PackageError) -> StagedPackage {
        let staging = StagingArea(home: home)
        let writers = TemporaryFileWriters(concurrency: writerThreads)
        var staged: [(path: String, attributes: FileAttributes)] = []
        var index: [String: Int] = [:]
        let streamed: StreamedPackage
        do {
            let reader = PackageStreamReader(items: items, maxDecompressedSize: budget)
            streamed = try reading(reader) { file in
                // The reader has refused any name no item accepts; this item only sets the mode and owner
                // until the metadata confirms it.
                let attributes = (try? items.owner(of: file.path).get()).map(ownership.attributes(for:)) ?? FileAttributes(permissions: 0o640)
                index[file.path] = staged.count
                staged.append((file.path, attributes))
                if let failure = staging.prepareDirectory(for: file.path, owner: attributes.owner) {
                    writers.record(staged.count - 1, failure)
                } else {
                    writers.submit(staged.count - 1, full: home + "/" + file.path, content: file.content,
                                   attributes: attributes)
                }
            }
        } catch {
            _ = writers.finish()
            discard(staged.map(\.path), staging)
            throw error
        }
        return StagedPackage(staging: staging, staged: staged, index: index, failures: writers.finish(), package: streamed)
    }

    /// The second half: holds each staged file to the group that lists it, then makes the package visible
    /// (one flush, the renames, the extra files deleted). `removingPackage` is deleted first, so that its
    /// pages are dropped instead of flushed with the new files. A package without the three groups is
    /// discarded and refused.
    public func commit(_ package: StagedPackage, removingPackage: String? = nil,
                       onMetadata: (IntegrityDiff) -> Void = { _ in }) throws(PackageError) -> ApplyResult {
        if let removingPackage { unlink(removingPackage) }
        guard !package.settled else { return ApplyResult() }
        package.settled = true
        let staged = package.staged
        guard case .sync(let diff) = package.package.metadata else {
            discard(staged.map(\.path), package.staging)
            throw .notSyncGroups
        }
        onMetadata(diff)

        var failures = package.failures
        var result = ApplyResult()
        var writes: [StagedWrite] = []
        var claimed = Set<Int>()
        for (group, isMissing) in [(diff.missing, true), (diff.shared, false)] {
            for (path, metadata) in group {
                guard let i = package.index[path], claimed.insert(i).inserted else { continue }  // not sent: a later round
                switch items.owner(of: path, declaredKey: metadata.clusterItemKey) {
                case .success(let item):
                    let attributes = ownership.attributes(for: item)
                    if failures[i] == nil && attributes != staged[i].attributes {
                        failures[i] = StagingArea.apply(attributes, path: StagingArea.temporaryPath(for: home + "/" + path))
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
        package.staging.removeEmptyCreatedDirectories()
        return result
    }

    /// Removes a staged package that will not be committed: its temporary files, then the directories
    /// made for them. The home is as it was before staging.
    public func discard(_ package: StagedPackage) {
        guard !package.settled else { return }
        package.settled = true
        discard(package.staged.map(\.path), package.staging)
    }

    /// Undoes the staging of a refused package: its temporary files, then the directories made for them.
    private func discard(_ paths: [String], _ staging: StagingArea) {
        for path in paths { unlink(StagingArea.temporaryPath(for: home + "/" + path)) }
        staging.removeEmptyCreatedDirectories()
    }
}
