import Foundation

/// One file of a repository revision as the Hub lists it.
public struct RemoteFile: Equatable, Sendable {
    public let path: String
    public let size: Int64
    public let hash: ExpectedHash
    public var isLFS: Bool { if case .sha256 = hash { return true } else { return false } }
}

/// A revision of a model repository: the commit it resolves to and its files.
public struct RepoRevision: Sendable {
    public let repo: String
    public let revision: String
    public let commit: String
    public let files: [String: RemoteFile]
}

/// The Hub's HTTP protocol as huggingface_hub speaks it: the revision's file list from
/// `/api/models/{repo}/revision/{rev}?blobs=true`, then each file from
/// `/{repo}/resolve/{commit}/{path}` (pinned to the listed commit, so a branch moving mid-pull
/// cannot mix two revisions).
public struct HubClient: Sendable {
    public let settings: HubSettings
    let transport: Transport

    public init(settings: HubSettings) {
        self.settings = settings
        transport = Transport(settings: settings)
    }

    /// Repository ids: "name" or "owner/name" with letters, digits, '-', '_', '.'.
    public static func validateRepo(_ repo: String) throws(HubError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.count <= 96 && $0.allSatisfy(allowed.contains) && $0 != "." && $0 != ".." }),
              !repo.contains("--") else {
            throw HubError(.invalid, "\"\(repo)\" is not a Hub repository id such as google/flan-t5-base")
        }
    }

    public func revision(repo: String, revision: String) throws(HubError) -> RepoRevision {
        try Self.validateRepo(repo)
        guard !revision.isEmpty else { throw HubError(.invalid, "the revision must not be empty") }
        let url = "\(settings.endpoint)/api/models/\(repo)/revision/\(Self.escape(revision, keepSlash: false))?blobs=true"
        var body = Data()
        let outcome = try transport.get(url, onBody: { bytes throws(HubError) in
            guard body.count + bytes.count <= 64 << 20 else { throw HubError(.server, "the file list of \(repo) is larger than 64 MB") }
            body.append(contentsOf: bytes)
        })
        try check(outcome, repo: repo, revision: revision, file: nil)
        struct Listing: Decodable {
            struct LFS: Decodable { let sha256: String; let size: Int64 }
            struct Sibling: Decodable { let rfilename: String; let size: Int64?; let blobId: String?; let lfs: LFS? }
            let sha: String
            let siblings: [Sibling]
        }
        let listing: Listing
        do { listing = try JSONDecoder().decode(Listing.self, from: body) } catch {
            throw HubError(.server, "\(settings.endpoint) did not answer with a Hub file list for \(repo)@\(revision) (is HF_ENDPOINT right?): \(error)")
        }
        var files: [String: RemoteFile] = [:]
        for s in listing.siblings {
            if let lfs = s.lfs {
                files[s.rfilename] = RemoteFile(path: s.rfilename, size: lfs.size, hash: .sha256(lfs.sha256.lowercased()))
            } else if let size = s.size, let blob = s.blobId {
                files[s.rfilename] = RemoteFile(path: s.rfilename, size: size, hash: .gitBlobSHA1(blob.lowercased()))
            }
        }
        return RepoRevision(repo: repo, revision: revision, commit: listing.sha, files: files)
    }

    public func resolveURL(repo: String, commit: String, path: String) -> String {
        "\(settings.endpoint)/\(repo)/resolve/\(Self.escape(commit, keepSlash: false))/\(Self.escape(path, keepSlash: true))"
    }

    /// Percent-encodes a revision (slashes too: "refs/pr/1") or a file path (slashes kept).
    static func escape(_ s: String, keepSlash: Bool) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        if keepSlash { allowed.insert("/") }
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// Turns a non-2xx answer into the error a user can act on, using the Hub's X-Error-Code.
    func check(_ outcome: Transport.Outcome, repo: String, revision: String, file: String?) throws(HubError) {
        let head = outcome.final
        guard !(200..<300).contains(head.status) else { return }
        let code = head.headers["x-error-code"] ?? ""
        var detail = head.headers["x-error-message"] ?? ""
        if detail.isEmpty, let json = try? JSONSerialization.jsonObject(with: outcome.errorBody) as? [String: Any],
           let error = json["error"] as? String {
            detail = error
        }
        let said = detail.isEmpty ? "" : " (the Hub says: \(detail))"
        switch head.status {
        case 401:
            if settings.token == nil {
                throw HubError(.unauthorized, "\(repo) needs authentication (401)\(said): it is private or gated, or does not exist. Set HF_TOKEN to a token with read access (https://huggingface.co/settings/tokens) and check the repository id.")
            }
            throw HubError(.unauthorized, "the Hub refused the token in HF_TOKEN for \(repo) (401)\(said): check that the token is valid, can read this repository, and that the id is right.")
        case 403:
            throw HubError(.unauthorized, "access to \(repo) is restricted (403)\(said). If it is gated, accept its conditions on its Hub page, then set HF_TOKEN to a token of that account.")
        case 404:
            switch code {
            case "RepoNotFound": throw HubError(.notFound, "no repository \(repo) on \(settings.endpoint) (404)\(said)")
            case "RevisionNotFound": throw HubError(.notFound, "\(repo) has no revision \"\(revision)\" (404)\(said)")
            case "EntryNotFound": throw HubError(.notFound, "\(repo)@\(revision) has no file \(file ?? "?") (404)\(said)")
            default:
                throw HubError(.notFound, "not found (404) on the Hub: \(file.map { "\(repo)@\(revision)/\($0)" } ?? "\(repo)@\(revision)")\(said)")
            }
        case 500...599:
            throw HubError(.server, "the Hub answered \(head.status) for \(head.url)\(said); try again later")
        default:
            throw HubError(.server, "unexpected HTTP \(head.status) from \(head.url)\(said)")
        }
    }
}
