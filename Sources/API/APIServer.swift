import Foundation
import HTTPCore
import Logging
import Serving
import T5

/// The JSON HTTP API of AdapterServe on libmicrohttpd's event-driven transport. Requests arrive
/// on the event thread and never block it: cheap reads answer at once, summaries are answered from
/// the engine's completion, other slow work runs on a thread of its own; inference runs on the
/// engine's own thread.
public final class APIServer: Sendable {
    public let service: AdapterServeService
    let http: HTTPServer
    let logger: Logger
    let metrics = Metrics()
    // Issue 18 (Authorization.swift, MetricsListener.swift): access rules, the /metrics listener.
    let access: AccessGate
    let metricsListener: HTTPServer?
    /// The transport was handed in already listening (`StartupGate`): `start()` must not start it.
    let transportIsRunning: Bool

    /// `transport`: an already listening server (`StartupGate.transport`, bound before the model
    /// loaded); nil makes a new one for `start()`.
    public init(service: AdapterServeService, logger: Logger, transport: HTTPServer? = nil) {
        self.service = service
        self.logger = logger
        let s = service.settings
        transportIsRunning = transport != nil
        http = transport ?? Self.makeTransport(s)
        access = AccessGate(settings: s, logger: logger)  // issue 18
        metricsListener = Self.makeMetricsListener(s)  // issue 18
        let metrics = self.metrics
        service.engine.onBatch = { metrics.recordBatch($0) }
    }

    /// The listening transport for these settings: the one place its configuration is made
    /// (`StartupGate` binds it before the model loads).
    static func makeTransport(_ s: ServiceSettings) -> HTTPServer {
        HTTPServer(configuration: HTTPServerConfiguration(
            host: s.host, port: s.port, maxBodyBytes: s.maxBodyBytes, connectionLimit: s.connectionLimit,
            connectionTimeoutSeconds: s.idleTimeoutSeconds, perIPConnectionLimit: s.perIPConnectionLimit,
            headerTimeoutSeconds: s.headerTimeoutSeconds))
    }

    /// Throws `AccessError` when protected mode refuses the bind or the API keys are unusable.
    public func start() throws {
        try access.prepare()  // issue 18: protected mode, API keys
        if !transportIsRunning { try http.start(asyncHandler: { [self] request, responder in dispatch(request, responder) }) }
        try startMetricsListener()  // issue 18: --metrics-port
    }

    /// Parsing and tokenizing a summary request (CPU only, never waits) runs here, off
    /// libmicrohttpd's event thread.
    static let parsing = DispatchQueue(label: "adapter-serve.api.parse", attributes: .concurrent)

    /// On the event thread: access rules and cheap reads answer at once; a summary is parsed on
    /// `parsing`, queued on the engine and answered from its completion (cancelled if the client
    /// hangs up). Work that blocks until the engine or the store is done (uploads, evaluation,
    /// activation, deletion, OpenAI completions) gets a thread of its own, so it can never starve
    /// the summaries' queue; the connection stays suspended meanwhile either way. Every branch runs
    /// with the request's id bound and echoes it.
    public func dispatch(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let requestID = RequestID.accept(request.headers[RequestID.header])
        let identified = IdentifiedResponder(responder: responder, requestID: requestID)
        let s = request.pathSegments
        if let denied = access.denial(for: request) {  // issue 18: keys, admin token, disabled admin
            RequestID.with(requestID) {
                identified.respond(finished(request, endpoint: Self.endpointName(request), response: denied, adapterLabel: "", started: Date()))
            }
        } else if ["healthz", "readyz", "metrics", "openapi.json"].contains(s.first ?? "") && s.count == 1
            || request.method == "GET" && s.count >= 2 && s.count <= 3 && s[0] == "v1" && ["adapters", "tasks", "models"].contains(s[1]) {
            identified.respond(RequestID.with(requestID) { handleIdentified(request) })
        } else if request.method == "POST" && s == ["v1", "summarize"] {
            Self.parsing.async { [self] in RequestID.with(requestID) { startSummary(request, identified) } }
        } else if request.method == "POST" && (s == ["v1", "completions"] || s == ["v1", "chat", "completions"]) {
            Self.parsing.async { [self] in RequestID.with(requestID) { startOpenAI(request, identified) } }  // stream: true
        } else {
            let thread = Thread { [self] in identified.respond(RequestID.with(requestID) { handleIdentified(request) }) }
            thread.name = "adapter-serve-api-request"
            thread.start()
        }
    }

    public var boundPort: Int { http.boundPort }

    /// SIGTERM path: refuse new connections, finish what is in flight, then stop.
    public func drainAndStop() {
        http.stopAccepting()
        service.drain()
        _ = http.waitForInFlight(timeout: .seconds(service.settings.requestTimeoutSeconds))
        http.stop()
        metricsListener?.stop()  // issue 18
    }

    /// The whole request path without a transport, answered on the calling thread (blocking for
    /// slow work): for tools such as the JSON-body fuzz target.
    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let requestID = RequestID.accept(request.headers[RequestID.header])
        var response = RequestID.with(requestID) {
            access.denial(for: request).map {
                finished(request, endpoint: Self.endpointName(request), response: $0, adapterLabel: "", started: Date())
            } ?? handleIdentified(request)
        }
        response.headers.set(RequestID.header, requestID)
        return response
    }

    /// Routes a request that passed the access rules (`dispatch`), with its id bound.
    func handleIdentified(_ request: HTTPRequest) -> HTTPResponse {
        let started = Date()
        var adapterLabel = ""
        let endpoint: String
        var response: HTTPResponse
        do {
            (endpoint, response) = try route(request, adapterLabel: &adapterLabel)
        } catch {
            endpoint = Self.endpointName(request)
            response = Self.errorResponse(error, request)
        }
        return finished(request, endpoint: endpoint, response: response, adapterLabel: adapterLabel, started: started)
    }

    /// The one place a service error becomes an HTTP error response.
    static func errorResponse(_ error: ServiceError, _ request: HTTPRequest) -> HTTPResponse {
        var headers = HTTPHeaders()
        if let retry = error.retryAfterSeconds { headers.set("Retry-After", String(retry)) }
        if error.kind == .methodNotAllowed { headers.set("Allow", allowedMethods(request.pathSegments).joined(separator: ", ")) }
        return .error(status: status(error.kind), code: error.code, message: error.message, headers: headers)
    }

    /// The one mapping from domain error kinds to HTTP status codes.
    static func status(_ kind: ServiceError.Kind) -> Int {
        switch kind {
        case .invalidRequest: 400
        case .unauthorized: 401
        case .notFound: 404
        case .methodNotAllowed: 405
        case .conflict: 409
        case .payloadTooLarge: 413
        case .unprocessable: 422
        case .cancelled: 499      // nginx's "client closed request"; the client is gone anyway
        case .internalFailure: 500
        case .unavailable: 503
        case .timeout: 504
        case .insufficientStorage: 507
        }
    }

    /// Metrics and the access log for a finished request.
    func finished(_ request: HTTPRequest, endpoint: String, response: HTTPResponse, adapterLabel: String, started: Date) -> HTTPResponse {
        let seconds = Date().timeIntervalSince(started)
        metrics.recordRequest(endpoint: endpoint, method: request.method, status: response.status,
                              adapter: metrics.adapterLabel(adapterLabel, known: { service.registry.summary($0) != nil }), seconds: seconds)
        if endpoint != "/metrics" && endpoint != "/healthz" && endpoint != "/readyz" {
            logger.info("request", metadata: [
                "request_id": "\(RequestID.current ?? "-")",
                "method": "\(request.method)", "endpoint": "\(endpoint)", "status": "\(response.status)",
                "adapter": "\(adapterLabel.isEmpty ? "-" : adapterLabel)", "ms": "\(Int((seconds * 1000).rounded()))",
                "input_tokens": "\(response.headers["X-Input-Tokens"] ?? "-")", "output_tokens": "\(response.headers["X-Output-Tokens"] ?? "-")",
            ])
        }
        return response
    }

    static func endpointName(_ r: HTTPRequest) -> String {
        RouteTable.template(for: r.pathSegments) ?? "other"
    }

    static func allowedMethods(_ s: [String]) -> [String] {
        RouteTable.template(for: s).map(RouteTable.methods) ?? ["GET"]
    }

    private func route(_ r: HTTPRequest, adapterLabel: inout String) throws(ServiceError) -> (String, HTTPResponse) {
        let s = r.pathSegments
        let endpoint = Self.endpointName(r)
        func method(_ allowed: String...) throws(ServiceError) {
            guard allowed.contains(r.method) else {
                throw ServiceError(.methodNotAllowed, "method_not_allowed", "\(r.method) is not allowed on \(endpoint)")
            }
        }
        if OpenAIEndpoints.paths.contains(endpoint) {
            return (endpoint, openAI(r, endpoint: endpoint, adapterLabel: &adapterLabel))
        }
        switch s {
        case ["openapi.json"]:
            try method("GET")
            return (endpoint, .json(rawJSON: OpenAPIDocument.data))
        case ["healthz"]:
            try method("GET", "HEAD")
            return (endpoint, .json(rawJSON: Data(#"{"status":"ok"}"#.utf8)))
        case ["readyz"]:
            try method("GET", "HEAD")
            let ready = service.isReady
            let state = service.readiness
            var body: [String: Any] = ["status": ready ? "ready" : state == .ready ? "degraded" : state.rawValue]
            if !service.startupProblems.isEmpty { body["problems"] = service.startupProblems }
            return (endpoint, .json(status: ready ? 200 : 503, rawJSON: Self.json(body)))
        case ["metrics"]:
            try method("GET")
            return (endpoint, .text(metrics.render(service: service, http: http), contentType: "text/plain; version=0.0.4; charset=utf-8"))
        case ["v1", "summarize"]:
            try method("POST")
            return (endpoint, try summarize(r, adapterLabel: &adapterLabel))
        case ["v1", "evaluate"]:
            try method("POST")
            return (endpoint, try evaluate(r))
        case ["v1", "adapters"]:
            try method("GET")
            return (endpoint, .json(rawJSON: Self.json(["adapters": service.listAdapters().map(Self.adapterJSON)])))
        case ["v1", "tasks"]:
            try method("GET")
            let tasks = service.tasks().sorted { $0.key < $1.key }.map { ["task": $0.key, "adapter": $0.value] }
            return (endpoint, .json(rawJSON: Self.json(["tasks": tasks])))
        default:
            break
        }
        if s.count == 3, s[0] == "v1", s[1] == "adapters" {
            let name = s[2]
            adapterLabel = name
            try method("GET", "PUT", "DELETE")
            switch r.method {
            case "GET":
                return (endpoint, .json(rawJSON: Self.json(Self.adapterJSON(try service.record(name)))))
            case "PUT":
                // The store enforces the name rule for every operation; checking here as well
                // only spares decoding an upload whose name will be refused anyway.
                try AdapterStore.validateName(name)
                let (config, weights) = try AdapterUpload.files(from: r, maxBytes: service.settings.maxBodyBytes)
                let record = try service.putAdapter(name: name, configData: config, weightsData: weights,
                                                    replace: Self.flag(r.query("replace")))
                return (endpoint, .json(status: 201, rawJSON: Self.json(Self.adapterJSON(record))))
            default:
                try service.deleteAdapter(name: name, force: Self.flag(r.query("force")))
                return (endpoint, HTTPResponse(status: 204))
            }
        }
        if s.count == 4, s[0] == "v1", s[1] == "adapters", s[3] == "activate" {
            adapterLabel = s[2]
            try method("POST")
            let body = try JSONBody(r.body)
            try body.rejectUnknown(["task"])
            let task = try body.requiredString("task")
            try service.activate(name: s[2], task: task)
            return (endpoint, .json(rawJSON: Self.json(["task": task, "adapter": s[2]])))
        }
        if s.count == 3, s[0] == "v1", s[1] == "tasks" {
            try method("DELETE")
            try service.deleteTask(s[2])
            return (endpoint, HTTPResponse(status: 204))
        }
        throw .notFound("not_found", "no route for \(r.method) \(r.path)")
    }

    static func flag(_ value: String?) -> Bool { ["true", "1", "yes"].contains(value?.lowercased() ?? "") }

    static func json(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func adapterJSON(_ a: AdapterRecord) -> [String: Any] {
        var d: [String: Any] = ["name": a.name, "kind": a.kind, "sha256": a.sha256, "parameter_count": a.parameterCount,
                                "bytes": a.bytes, "created_at": a.createdAt, "loaded": a.loaded, "pinned": a.pinned, "tasks": a.tasks]
        if let r = a.rank { d["rank"] = r }
        if let t = a.targetModules { d["target_modules"] = t }
        if let n = a.targetCount { d["target_count"] = n }
        if let v = a.virtualTokens { d["virtual_tokens"] = v }
        return d
    }
}

/// The transport's responder plus the request's id, which it stamps on whatever it sends.
struct IdentifiedResponder: Sendable {
    let responder: HTTPResponder
    let requestID: String

    func respond(_ response: HTTPResponse) {
        var response = response
        response.headers.set(RequestID.header, requestID)
        responder.respond(response)
    }

    func onCancel(_ handler: @escaping @Sendable () -> Void) { responder.onCancel(handler) }
}
