import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Brings one file into a directory: streamed into `<dir>/.hub/incomplete/<hash>.incomplete`,
/// resumed from there with a Range request after a dropped connection (in this run or a later
/// one), checked against the size and hash the Hub lists, and only then renamed to its final
/// name. A half or corrupt file therefore never sits under the final name.
struct FileDownload {
    let client: HubClient
    let progress: ProgressReporter
    let url: String
    let file: RemoteFile
    let final: URL
    let partial: URL

    init(client: HubClient, progress: ProgressReporter, repo: String, commit: String, file: RemoteFile, into dir: URL) {
        self.client = client
        self.progress = progress
        self.file = file
        url = client.resolveURL(repo: repo, commit: commit, path: file.path)
        final = dir.appendingPathComponent(file.path)
        partial = PullLayout.incompleteDir(dir).appendingPathComponent("\(file.hash.hex).incomplete")
    }

    /// Downloads (or resumes) and verifies the file; throws leaving at most the partial file.
    func run(repo: String, revision: String) throws(HubError) {
        let fm = FileManager.default
        do { try fm.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
            throw HubError(.io, "cannot create \(partial.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        var have = Self.size(of: partial.path) ?? 0
        if have > file.size {
            try? fm.removeItem(at: partial)
            have = 0
        }
        progress.begin(file.path, total: file.size, alreadyHave: have)
        var attempts = 0
        var restartedAfter416 = false
        while have < file.size {
            try ensureSpace(needed: file.size - have)
            do throws(HubError) {
                if try fetch(from: have, repo: repo, revision: revision) == .rangeNotSatisfiable {
                    // The partial no longer fits the server's file: start over, once.
                    guard !restartedAfter416 else {
                        throw HubError(.server, "the server refused the byte range for \(file.path) twice (HTTP 416)")
                    }
                    restartedAfter416 = true
                    try? fm.removeItem(at: partial)
                }
            } catch let error where error.kind == .interrupted {
                let now = Self.size(of: partial.path) ?? 0
                attempts += 1
                guard now > have, attempts <= client.settings.resumeAttempts else {
                    progress.end("interrupted at \(ProgressReporter.bytes(now)) of \(ProgressReporter.bytes(file.size))")
                    throw HubError(.interrupted, "\(error.message) while downloading \(file.path), after \(now) of \(file.size) bytes. The partial file is kept: run the same command again to resume.")
                }
                progress.note("\(file.path): connection dropped at \(ProgressReporter.bytes(now)); resuming")
            }
            have = Self.size(of: partial.path) ?? 0
        }
        try verifyAndPlace()
    }

    private enum FetchOutcome { case complete, rangeNotSatisfiable }

    /// One GET from `offset`: appends to the partial file as bytes arrive.
    private func fetch(from offset: Int64, repo: String, revision: String) throws(HubError) -> FetchOutcome {
        let fd = open(partial.path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else { throw HubError(.io, "cannot write \(partial.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = offset
        let expected = file
        let path = partial.path
        let progress = self.progress
        let onStart: (ResponseHead) throws(HubError) -> Void = { head throws(HubError) in
            var start: Int64 = 0
            if head.status == 206 {
                start = Self.rangeStart(head.headers["content-range"]) ?? -1
                guard start == offset else {
                    throw HubError(.server, "asked for \(expected.path) from byte \(offset) but the server sent a range starting at \(start)")
                }
            } else if offset > 0 {
                // A 200 is the whole file (the server ignored the Range): start the partial afresh.
                guard ftruncate(fd, 0) == 0 else {
                    throw HubError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
            }
            guard lseek(fd, off_t(start), SEEK_SET) == off_t(start) else {
                throw HubError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written = start
        }
        let onBody: (UnsafeRawBufferPointer) throws(HubError) -> Void = { bytes throws(HubError) in
            guard written + Int64(bytes.count) <= expected.size else {
                throw HubError(.integrity, "the server sent more than the \(expected.size) bytes the Hub lists for \(expected.path)")
            }
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == ENOSPC || errno == EDQUOT {
                        throw HubError(.diskFull, "the disk is full writing \(expected.path) into \(path) (\(expected.size - written) bytes still to come). Free some space and run the same command again to resume.")
                    }
                    throw HubError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                done += n
            }
            written += Int64(bytes.count)
            progress.advance(to: written)
        }
        let outcome = try client.transport.get(url, range: offset > 0 ? offset : nil, onStart: onStart, onBody: onBody)
        if outcome.final.status == 416 && offset > 0 { return .rangeNotSatisfiable }
        try client.check(outcome, repo: repo, revision: revision, file: file.path)
        try checkAdvertised(outcome.hops)
        if fsync(fd) != 0 && errno == ENOSPC {
            throw HubError(.diskFull, "the disk is full writing \(file.path); free some space and run the same command again")
        }
        guard written == file.size else {
            throw HubError(.interrupted, "the server closed the transfer of \(file.path) at \(written) of \(file.size) bytes")
        }
        return .complete
    }

    /// The Hub states an LFS file's sha256 and size again on its redirect (X-Linked-Etag,
    /// X-Linked-Size) and a small file's blob id as its ETag: they must agree with the listing.
    private func checkAdvertised(_ hops: [ResponseHead]) throws(HubError) {
        guard let hub = hops.first else { return }
        let etag = Self.unquote(hub.headers["x-linked-etag"] ?? (hops.count == 1 || !file.isLFS ? hops.last?.headers["etag"] : nil))
        if let etag, etag.count == file.hash.hex.count, etag.allSatisfy(\.isHexDigit), etag.lowercased() != file.hash.hex {
            throw HubError(.integrity, "the Hub serves \(file.path) with ETag \(etag) but lists it as \(file.hash.hex); the repository changed during the pull, run it again")
        }
        if let linked = hub.headers["x-linked-size"].flatMap({ Int64($0) }), linked != file.size {
            throw HubError(.integrity, "the Hub serves \(file.path) with X-Linked-Size \(linked) but lists \(file.size) bytes")
        }
    }

    /// Checks the complete partial file, then renames it into place (atomically replacing an
    /// older version). A file that fails is deleted: resuming it would only repeat the error.
    private func verifyAndPlace() throws(HubError) {
        let size = Self.size(of: partial.path) ?? -1
        guard size == file.size else {
            try? FileManager.default.removeItem(at: partial)
            throw HubError(.integrity, "\(file.path) is \(size) bytes, but the Hub lists \(file.size); the download was discarded, run the command again")
        }
        let actual = try FileDigest.compute(file.hash, path: partial.path, size: file.size)
        guard actual == file.hash.hex else {
            try? FileManager.default.removeItem(at: partial)
            progress.end("REJECTED (\(file.hash.label) mismatch)")
            throw HubError(.integrity, "\(file.path) failed its \(file.hash.label) check (expected \(file.hash.hex), got \(actual)): the download was corrupted and has been discarded. Run the command again; if it repeats, the mirror at HF_ENDPOINT serves a damaged file.")
        }
        do { try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
            throw HubError(.io, "cannot create \(final.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        guard rename(partial.path, final.path) == 0 else {
            throw HubError(.io, "cannot move \(file.path) into place at \(final.path): \(String(cString: strerror(errno)))")
        }
        PullLayout.fsync(final.deletingLastPathComponent().path)
        progress.end("done, \(file.hash.label) verified")
    }

    private func ensureSpace(needed: Int64) throws(HubError) {
        var stats = statvfs()
        guard statvfs(partial.deletingLastPathComponent().path, &stats) == 0 else { return }
        let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        if free < needed {
            throw HubError(.diskFull, "not enough disk space for \(file.path): \(ProgressReporter.bytes(needed)) needed, \(ProgressReporter.bytes(free)) free at \(partial.deletingLastPathComponent().path)")
        }
    }

    static func size(of path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    static func rangeStart(_ contentRange: String?) -> Int64? {
        // "bytes 100-199/200"
        guard let value = contentRange?.lowercased(), value.hasPrefix("bytes ") else { return nil }
        return Int64(value.dropFirst(6).prefix { $0 != "-" })
    }

    static func unquote(_ etag: String?) -> String? {
        guard var e = etag else { return nil }
        if e.hasPrefix("W/") { e.removeFirst(2) }
        return e.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}
