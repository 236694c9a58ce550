import Foundation
import HTTPCore
import Serving
import Synchronization

/// Binds the port before the model loads, so that an orchestrator's probes can tell "loading"
/// from "dead": a startupProbe on /healthz passes as soon as the process listens, while
/// /readyz answers 503 `{"status":"loading"}` and keeps the replica out of the load balancer
/// until the base model and every routed adapter are resident.
///
/// Use: `start()` (binds), load the service, then `open(_:)` with the `APIServer` built on
/// `transport`; from then on every request is the API's. Draining and stopping stay the
/// API's job (`APIServer.drainAndStop()` acts on the same transport).
public final class StartupGate: Sendable {
    /// The listening transport, handed to the `APIServer` once the service is loaded.
    public let transport: HTTPServer
    private let settings: ServiceSettings
    private let api = Mutex<APIServer?>(nil)

    public init(settings: ServiceSettings) {
        self.settings = settings
        transport = APIServer.makeTransport(settings)
    }

    /// Binds and starts answering; until `open(_:)` every request gets the loading answers.
    /// Protected mode and the API keys are checked first, so a refused start neither listens nor
    /// loads; `APIServer.start()` applies them for real once the service is loaded.
    public func start() throws {
        if case .refuse(let message) = ProtectedMode.decide(settings) { throw AccessError(message) }
        try Credentials(settings: settings).load(settings)
        try transport.start(asyncHandler: { [self] request, responder in
            if let server = api.withLock({ $0 }) { server.dispatch(request, responder) } else { responder.respond(Self.loadingAnswer(request)) }
        })
    }

    public var boundPort: Int { transport.boundPort }

    /// Hands every later request to `server`, whose service is fully loaded.
    public func open(_ server: APIServer) {
        api.withLock { $0 = server }
    }

    /// Alive but not ready: /healthz 200, /readyz 503 loading, anything else 503 with Retry-After.
    static func loadingAnswer(_ request: HTTPRequest) -> HTTPResponse {
        var retry = HTTPHeaders()
        retry.set("Retry-After", "5")
        switch request.pathSegments {
        case ["healthz"]:
            return .json(rawJSON: Data(#"{"status":"ok"}"#.utf8))
        case ["readyz"]:
            return .json(status: 503, rawJSON: Data(#"{"status":"loading"}"#.utf8), headers: retry)
        default:
            return .error(status: 503, code: "loading",
                          message: "the model is still loading; retry when GET /readyz answers 200", headers: retry)
        }
    }
}
