import Foundation

/// Who may call what (issue 18): API keys for inference, whether the admin endpoints exist and
/// may run without a token, and where /metrics is served. Kept apart from `ServiceSettings`'
/// other fields because these are the security-relevant ones; their keys sit flat in the
/// same config file (`api_keys`, `api_key_file`, `admin_endpoints`, `allow_open_admin`,
/// `metrics_port`).
public struct AccessSettings: Sendable, Equatable, Decodable {
    public enum AdminEndpoints: String, Sendable, Equatable, Decodable, CaseIterable {
        /// Uploads, deletes and activations are served (behind the admin token when one is set).
        case enabled
        /// They answer 405: a server whose adapters are baked in at deploy time.
        case disabled
    }

    /// Keys accepted on the inference endpoints (`Authorization: Bearer KEY`). The admin
    /// token is accepted as well. Empty and no key file: inference is open.
    public var apiKeys: [String] = []
    /// One key per line; re-read on SIGHUP so keys rotate without a restart.
    public var apiKeyFile: String?
    public var adminEndpoints: AdminEndpoints = .enabled
    /// Serve the admin endpoints without a token even off loopback (warned at start and on
    /// every admin call).
    public var allowOpenAdmin = false
    /// A second listener for /metrics (0 picks a free port); the main port then answers 404 there.
    public var metricsPort: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case apiKeys = "api_keys", apiKeyFile = "api_key_file", adminEndpoints = "admin_endpoints"
        case allowOpenAdmin = "allow_open_admin", metricsPort = "metrics_port"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiKeys = try c.decodeIfPresent([String].self, forKey: .apiKeys) ?? []
        apiKeyFile = try c.decodeIfPresent(String.self, forKey: .apiKeyFile)
        adminEndpoints = try c.decodeIfPresent(AdminEndpoints.self, forKey: .adminEndpoints) ?? .enabled
        allowOpenAdmin = try c.decodeIfPresent(Bool.self, forKey: .allowOpenAdmin) ?? false
        metricsPort = try c.decodeIfPresent(Int.self, forKey: .metricsPort)
    }

    /// ADAPTER_SERVE_API_KEYS (comma-separated), ADAPTER_SERVE_API_KEY_FILE,
    /// ADAPTER_SERVE_ADMIN_ENDPOINTS, ADAPTER_SERVE_ALLOW_OPEN_ADMIN, ADAPTER_SERVE_METRICS_PORT.
    /// Messages name the variable, never its value: it may be a secret.
    public mutating func apply(environment env: [String: String]) throws(ServiceError) {
        if let s = env["ADAPTER_SERVE_API_KEYS"] {
            apiKeys = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let s = env["ADAPTER_SERVE_API_KEY_FILE"], !s.isEmpty { apiKeyFile = s }
        if let s = env["ADAPTER_SERVE_ADMIN_ENDPOINTS"] {
            guard let mode = AdminEndpoints(rawValue: s.lowercased()) else {
                throw .badRequest("ADAPTER_SERVE_ADMIN_ENDPOINTS must be enabled or disabled")
            }
            adminEndpoints = mode
        }
        if let s = env["ADAPTER_SERVE_ALLOW_OPEN_ADMIN"] { allowOpenAdmin = ["true", "1", "yes"].contains(s.lowercased()) }
        if let s = env["ADAPTER_SERVE_METRICS_PORT"] {
            guard let n = Int(s) else { throw .badRequest("environment ADAPTER_SERVE_METRICS_PORT=\(s) is not an integer") }
            metricsPort = n
        }
    }
}
