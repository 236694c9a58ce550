import Foundation

/// The outcome of a pull: where the files are and which of them this run transferred.
public struct PullResult: Sendable {
    public let repo: String
    public let revision: String
    /// The commit the files came from; nil offline without a pull record.
    public let commit: String?
    public let directory: URL
    public let files: [String]
    public let downloaded: [String]
    public let offline: Bool
}

/// `adapter-serve pull`: a repository revision's serving files into a directory, as
/// huggingface_hub's `snapshot_download(local_dir=...)` would, but only the files serving
/// reads, each verified before it takes its final name.
public struct Puller: Sendable {
    public let client: HubClient
    public let progress: ProgressReporter

    public init(settings: HubSettings, progress: ProgressReporter = ProgressReporter()) {
        client = HubClient(settings: settings)
        self.progress = progress
    }

    public func pull(repo: String, revision: String = "main", kind: PullKind, into dir: URL) throws(HubError) -> PullResult {
        try HubClient.validateRepo(repo)
        if client.settings.offline { return try offline(repo: repo, revision: revision, kind: kind, dir: dir) }
        do {
            return try online(repo: repo, revision: revision, kind: kind, dir: dir)
        } catch let error where error.kind == .unreachable {
            throw HubError(.unreachable, "\(error.message). Check the network connection (and HF_ENDPOINT=\(client.settings.endpoint)), or set HF_HUB_OFFLINE=1 to use files already downloaded.")
        }
    }

    private func online(repo: String, revision: String, kind: PullKind, dir: URL) throws(HubError) -> PullResult {
        let rev = try client.revision(repo: repo, revision: revision)
        var plan = try ServingFiles.select(kind, rev)
        progress.note("pulling \(repo)@\(revision) (commit \(rev.commit)) into \(dir.path): \(plan.map(\.path).joined(separator: ", "))")
        var manifest = PullManifest.read(dir).flatMap { $0.repo == repo ? $0 : nil }
            ?? PullManifest(repo: repo, revision: revision, commit: rev.commit, wanted: [], files: [:])
        manifest.revision = revision
        manifest.commit = rev.commit
        manifest.wanted = plan.map(\.path)
        var downloaded: [String] = []
        var index = 0
        while index < plan.count {
            let file = plan[index]
            index += 1
            let entry = PullManifest.Entry(size: file.size, hash: file.hash)
            if manifest.files[file.path] == entry, FileDownload.size(of: dir.appendingPathComponent(file.path).path) == file.size {
                progress.note("\(file.path): up to date")
            } else {
                manifest.files[file.path] = nil
                try manifest.write(dir)
                try FileDownload(client: client, progress: progress, repo: repo, commit: rev.commit, file: file, into: dir)
                    .run(repo: repo, revision: revision)
                manifest.files[file.path] = entry
                try manifest.write(dir)
                downloaded.append(file.path)
            }
            if file.path == ServingFiles.weightsIndex {
                let shards = try ServingFiles.shards(index: dir.appendingPathComponent(file.path), rev)
                plan += shards
                manifest.wanted += shards.map(\.path)
            }
        }
        try manifest.write(dir)
        // Every wanted file is in place: partials of other revisions are of no further use.
        try? FileManager.default.removeItem(at: PullLayout.incompleteDir(dir))
        return PullResult(repo: repo, revision: revision, commit: rev.commit, directory: dir, files: plan.map(\.path),
                          downloaded: downloaded, offline: false)
    }

    /// HF_HUB_OFFLINE: no request at all. Complete means every file the last pull wanted is
    /// here at its recorded size; without a pull record, that the files serving reads exist.
    private func offline(repo: String, revision: String, kind: PullKind, dir: URL) throws(HubError) -> PullResult {
        let hint = "HF_HUB_OFFLINE is set, so nothing is downloaded; unset it (or set HF_HUB_OFFLINE=0) to fetch \(repo)."
        if let manifest = PullManifest.read(dir), manifest.repo == repo {
            guard revision == manifest.revision || revision == manifest.commit else {
                throw HubError(.offline, "\(dir.path) holds \(repo) at revision \(manifest.revision) (commit \(manifest.commit)), not \(revision). \(hint)")
            }
            let missing = manifest.missing(in: dir)
            guard missing.isEmpty else {
                throw HubError(.offline, "\(dir.path) does not hold a complete copy of \(repo) (missing or incomplete: \(missing.joined(separator: ", "))). \(hint)")
            }
            progress.note("offline: \(repo)@\(manifest.revision) (commit \(manifest.commit)) is complete in \(dir.path)")
            return PullResult(repo: repo, revision: manifest.revision, commit: manifest.commit, directory: dir,
                              files: manifest.wanted, downloaded: [], offline: true)
        }
        let missing = ServingFiles.locallyMissing(kind, in: dir)
        guard missing.isEmpty else {
            throw HubError(.offline, "\(dir.path) does not hold a copy of \(repo) (missing: \(missing.joined(separator: ", "))). \(hint)")
        }
        progress.note("offline: \(dir.path) has the files serving needs (no pull record, so not checked against \(repo))")
        return PullResult(repo: repo, revision: revision, commit: nil, directory: dir, files: [], downloaded: [], offline: true)
    }
}
