import Foundation

/// Where the Hub is and how to talk to it, read from the same environment variables
/// `huggingface_hub` reads, so a user's existing set-up carries over.
public struct HubSettings: Sendable {
    /// Base URL without a trailing slash (HF_ENDPOINT, default https://huggingface.co).
    public var endpoint: String
    /// HF_TOKEN, sent as a Bearer token to the endpoint's own host only.
    public var token: String?
    /// HF_HUB_OFFLINE: make no request at all.
    public var offline: Bool
    /// How long to wait for a connection: a machine without network fails in seconds.
    public var connectTimeoutSeconds: Int = 10
    /// A transfer receiving nothing for this long is treated as a dropped connection.
    public var stallTimeoutSeconds: Int = 60
    /// Resumes attempted within one run after a connection drops mid-file.
    public var resumeAttempts: Int = 3

    public static let defaultEndpoint = "https://huggingface.co"

    public init(endpoint: String = HubSettings.defaultEndpoint, token: String? = nil, offline: Bool = false) {
        self.endpoint = endpoint
        self.token = token
        self.offline = offline
    }

    /// Settings from HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE (true for 1/ON/YES/TRUE, as in
    /// huggingface_hub).
    public init(environment env: [String: String]) throws(HubError) {
        var endpoint = env["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultEndpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw HubError(.invalid, "HF_ENDPOINT=\(endpoint) is not an http(s) URL such as https://huggingface.co")
        }
        let token = env["HF_TOKEN"].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        let offline = ["1", "ON", "YES", "TRUE"].contains((env["HF_HUB_OFFLINE"] ?? "").uppercased())
        self.init(endpoint: endpoint, token: token, offline: offline)
    }
}
