/// Why a pull failed, with a message the user can act on. Each kind has its own exit status so
/// scripts can tell "the Hub is unreachable" (fall back to something local) from the rest.
public struct HubError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// 401/403: private, gated, or a bad token.
        case unauthorized
        /// 404: no such repository, revision or file.
        case notFound
        /// HF_HUB_OFFLINE is set and the files are not all here.
        case offline
        /// The Hub's host could not be reached at all (DNS, refused, connect timeout).
        case unreachable
        /// A transfer started and broke off; the partial file is kept for a resume.
        case interrupted
        case diskFull
        /// A file's size or hash does not match what the Hub lists for it.
        case integrity
        /// A 5xx or an answer that is not the Hub protocol.
        case server
        /// Bad arguments or a repository without the files serving needs.
        case invalid
        /// A local file system failure other than a full disk.
        case io
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Process exit status for `adapter-serve pull` (documented in the README's "Pull" section).
    public var exitCode: Int32 {
        switch kind {
        case .invalid, .io: return 1
        case .unreachable: return 3
        case .unauthorized: return 4
        case .notFound: return 5
        case .integrity: return 6
        case .diskFull: return 7
        case .offline: return 8
        case .interrupted: return 9
        case .server: return 10
        }
    }
}
