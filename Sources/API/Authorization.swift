import Foundation
import HTTPCore
import Logging
import Serving

/// What a request needs before it may be routed, decided from its method and path alone.
/// Deciding before routing means a route added later is protected by default: anything that
/// is neither a probe nor an admin change counts as inference.
enum AccessClass: Equatable {
    /// /healthz, /readyz, /metrics: orchestrators and scrapers carry no credentials.
    case open
    /// Uploads, deletes, activations: the admin token.
    case admin
    /// Everything else: an API key (or the admin token) once keys are configured.
    /// `openAI` marks the OpenAI-compatible paths, whose clients expect OpenAI's error shape.
    case inference(openAI: Bool)

    static let openAIPrefixes: [[String]] = [["v1", "completions"], ["v1", "chat", "completions"], ["v1", "models"]]

    static func of(method: String, segments s: [String]) -> AccessClass {
        if s == ["healthz"] || s == ["readyz"] || s == ["metrics"] { return .open }
        switch (method, s.count, s.first, s.count > 1 ? s[1] : "") {
        case ("PUT", 3, "v1", "adapters"), ("DELETE", 3, "v1", "adapters"), ("DELETE", 3, "v1", "tasks"):
            return .admin
        case ("POST", 4, "v1", "adapters") where s[3] == "activate":
            return .admin
        default:
            return .inference(openAI: openAIPrefixes.contains { s.starts(with: $0) })
        }
    }
}

/// The access rules of issue 18, applied to every request before routing: API keys on
/// inference, the admin token (or `--admin-endpoints=disabled`) on changes, and /metrics
/// moved off the main port when it has its own listener. Denials never echo what the client
/// sent: a near-miss key is still a secret.
final class AccessGate: Sendable {
    let credentials: Credentials
    let adminEndpoints: AccessSettings.AdminEndpoints
    /// No admin token and `--allow-open-admin`: every admin call is logged as a warning.
    let warnOnAdminCalls: Bool
    let metricsElsewhere: Bool
    let logger: Logger
    /// Kept for `prepare`, which decides protected mode and loads the keys at start.
    let settings: ServiceSettings

    init(settings: ServiceSettings, logger: Logger) {
        self.settings = settings
        credentials = Credentials(settings: settings)
        adminEndpoints = settings.access.adminEndpoints
        warnOnAdminCalls = ProtectedMode.decide(settings) == .openByRequest
        metricsElsewhere = settings.access.metricsPort != nil
        self.logger = logger
    }

    /// Before the server listens: protected mode may refuse the start, the keys must be valid
    /// and the key file readable.
    func prepare() throws(AccessError) {
        switch ProtectedMode.decide(settings) {
        case .refuse(let message): throw AccessError(message)
        case .openByRequest: logger.warning("\(ProtectedMode.openWarning)")
        case .safe: break
        }
        try credentials.load(settings)
    }

    /// The response refusing `request`, or nil when it may proceed.
    func denial(for request: HTTPRequest) -> HTTPResponse? {
        switch AccessClass.of(method: request.method, segments: request.pathSegments) {
        case .open:
            guard metricsElsewhere, request.pathSegments == ["metrics"] else { return nil }
            return .error(status: 404, code: "not_found", message: "/metrics is served on the metrics port (--metrics-port), not on this one")
        case .admin:
            return adminDenial(request)
        case .inference(let openAI):
            guard credentials.keysRequired else { return nil }
            switch Bearer.parse(request.headers) {
            case .valid(let key) where credentials.isAPIKey(key):
                return nil
            case .valid:
                return unauthorized(openAI: openAI, code: "invalid_api_key", message: "the API key is not valid")
            case .missing:
                return unauthorized(openAI: openAI, code: "missing_api_key",
                                    message: "this endpoint needs an API key: send \"Authorization: Bearer <key>\"")
            case .malformed(let why):
                return unauthorized(openAI: openAI, code: "invalid_authorization", message: why)
            }
        }
    }

    private func adminDenial(_ request: HTTPRequest) -> HTTPResponse? {
        if adminEndpoints == .disabled {
            let allowed = APIServer.allowedMethods(request.pathSegments).filter {
                AccessClass.of(method: $0, segments: request.pathSegments) != .admin
            }
            return .error(status: 405, code: "admin_disabled",
                          message: "uploads, deletes and activations are turned off on this server (--admin-endpoints=disabled)",
                          headers: ["Allow": allowed.joined(separator: ", ")])
        }
        guard credentials.hasAdminToken else {
            if warnOnAdminCalls {
                logger.warning("admin endpoint called without an admin token (--allow-open-admin): anyone who can reach this port may do this",
                               metadata: ["method": "\(request.method)", "endpoint": "\(APIServer.endpointName(request))"])
            }
            return nil
        }
        let message = "this endpoint needs \"Authorization: Bearer <admin token>\""
        switch Bearer.parse(request.headers) {
        case .valid(let token) where credentials.isAdminToken(token):
            return nil
        case .malformed(let why):
            return unauthorized(openAI: false, code: "unauthorized", message: "\(why); \(message)")
        default:
            return unauthorized(openAI: false, code: "unauthorized", message: message)
        }
    }

    private func unauthorized(openAI: Bool, code: String, message: String) -> HTTPResponse {
        let headers: HTTPHeaders = ["WWW-Authenticate": "Bearer"]
        guard openAI else { return .error(status: 401, code: code, message: message, headers: headers) }
        // OpenAI's shape, which its client libraries parse: {"error": {"message", "type", "param", "code"}}.
        let body: [String: Any] = ["error": ["message": message, "type": "invalid_request_error",
                                             "param": NSNull(), "code": code]]
        return .json(status: 401, rawJSON: APIServer.json(body), headers: headers)
    }
}

/// The credentials of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1).
enum Bearer: Equatable {
    case missing
    case malformed(String)
    case valid([UInt8])

    static func parse(_ headers: HTTPHeaders) -> Bearer {
        let values = headers.values(for: "Authorization")
        guard let value = values.first else { return .missing }
        guard values.count == 1 else { return .malformed("send one Authorization header, not \(values.count)") }
        var bytes = Array(value.utf8)
        // Control characters (tab and NUL included; HTTPCore keeps what libmicrohttpd hides
        // behind a NUL) have no place in a credential: refuse rather than guess what was meant.
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return .malformed("the Authorization header contains control characters")
        }
        // Optional whitespace around a field value is not part of it.
        while bytes.last == 0x20 { bytes.removeLast() }
        while bytes.first == 0x20 { bytes.removeFirst() }
        let scheme = Array("bearer".utf8)
        // The scheme is case-insensitive ("bearer", "BEARER"); one or more spaces follow it.
        guard bytes.count > scheme.count, zip(bytes, scheme).allSatisfy({ ($0 | 0x20) == $1 }),
              bytes[scheme.count] == 0x20 else {
            return .malformed("the Authorization header must be \"Bearer <token>\"")
        }
        let token = Array(bytes.dropFirst(scheme.count).drop { $0 == 0x20 })
        guard !token.isEmpty, !token.contains(0x20) else {
            return .malformed("the Authorization header must be \"Bearer <token>\" with a single token")
        }
        return .valid(token)
    }
}
