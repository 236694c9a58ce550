import Foundation
import HTTPCore
import Logging
import Serving
import T5

/// The JSON HTTP API of AdapterServe on libmicrohttpd. Handlers run on the server's connection
/// threads and only parse, validate and wait: inference runs on the engine's own thread.
public final class APIServer: Sendable {
    public let service: AdapterServeService
    let http: HTTPServer
    let logger: Logger
    let metrics = Metrics()

    public init(service: AdapterServeService, logger: Logger) {
        self.service = service
        self.logger = logger
        let s = service.settings
        http = HTTPServer(configuration: HTTPServerConfiguration(
            host: s.host, port: s.port, maxBodyBytes: s.maxBodyBytes, connectionLimit: s.connectionLimit,
            connectionTimeoutSeconds: s.idleTimeoutSeconds, perIPConnectionLimit: s.perIPConnectionLimit,
            headerTimeoutSeconds: s.headerTimeoutSeconds))
        let metrics = self.metrics
        service.engine.onBatch = { metrics.recordBatch($0) }
    }

    public func start() throws {
        try http.start(asyncHandler: { [self] request, responder in dispatch(request, responder) })
    }

    /// Parsing and tokenizing a summary request (CPU only, never waits) runs here, off
    /// libmicrohttpd's event thread.
    static let parsing = DispatchQueue(label: "adapter-serve.api.parse", attributes: .concurrent)

    /// On the event thread: cheap reads answer at once; a summary is parsed on `parsing`, queued
    /// on the engine and answered from its completion (cancelled if the client hangs up). Work
    /// that blocks until the engine or the store is done (uploads, evaluation, activation,
    /// deletion) gets a thread of its own, so it can never starve the summaries' queue; the
    /// connection stays suspended meanwhile either way.
    func dispatch(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let s = request.pathSegments
        if ["healthz", "readyz", "metrics"].contains(s.first ?? "") && s.count == 1
            || request.method == "GET" && s.count >= 2 && s.count <= 3 && s[0] == "v1" && ["adapters", "tasks"].contains(s[1]) {
            responder.respond(handle(request))
        } else if request.method == "POST" && s == ["v1", "summarize"] {
            Self.parsing.async { [self] in startSummary(request, responder) }
        } else {
            let thread = Thread { [self] in responder.respond(handle(request)) }
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
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
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
        metrics.recordRequest(endpoint: endpoint, method: request.method, status: response.status, adapter: adapterLabel, seconds: seconds)
        if endpoint != "/metrics" && endpoint != "/healthz" && endpoint != "/readyz" {
            logger.info("request", metadata: [
                "method": "\(request.method)", "endpoint": "\(endpoint)", "status": "\(response.status)",
                "adapter": "\(adapterLabel.isEmpty ? "-" : adapterLabel)", "ms": "\(Int((seconds * 1000).rounded()))",
                "input_tokens": "\(response.headers["X-Input-Tokens"] ?? "-")", "output_tokens": "\(response.headers["X-Output-Tokens"] ?? "-")",
            ])
        }
        return response
    }

    static func endpointName(_ r: HTTPRequest) -> String {
        let s = r.pathSegments
        switch (s.count, s.first) {
        case (3, "v1") where s[1] == "adapters": return "/v1/adapters/{name}"
        case (4, "v1") where s[1] == "adapters": return "/v1/adapters/{name}/\(s[3])"
        case (3, "v1") where s[1] == "tasks": return "/v1/tasks/{task}"
        default:
            let known = ["/v1/summarize", "/v1/adapters", "/v1/tasks", "/v1/evaluate", "/healthz", "/readyz", "/metrics"]
            return known.contains(r.path) ? r.path : "other"
        }
    }

    static func allowedMethods(_ s: [String]) -> [String] {
        switch (s.count, s.first, s.count > 1 ? s[1] : "") {
        case (2, "v1", "summarize"), (2, "v1", "evaluate"): ["POST"]
        case (2, "v1", "adapters"), (2, "v1", "tasks"): ["GET"]
        case (3, "v1", "adapters"): ["GET", "PUT", "DELETE"]
        case (4, "v1", "adapters"): ["POST"]
        case (3, "v1", "tasks"): ["DELETE"]
        default: ["GET"]
        }
    }

    private func route(_ r: HTTPRequest, adapterLabel: inout String) throws(ServiceError) -> (String, HTTPResponse) {
        let s = r.pathSegments
        let endpoint = Self.endpointName(r)
        func method(_ allowed: String...) throws(ServiceError) {
            guard allowed.contains(r.method) else {
                throw ServiceError(.methodNotAllowed, "method_not_allowed", "\(r.method) is not allowed on \(endpoint)")
            }
        }
        switch s {
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
                try authorize(r)
                // The store enforces the name rule for every operation; checking here as well
                // only spares decoding an upload whose name will be refused anyway.
                try AdapterStore.validateName(name)
                let (config, weights) = try AdapterUpload.files(from: r, maxBytes: service.settings.maxBodyBytes)
                let record = try service.putAdapter(name: name, configData: config, weightsData: weights,
                                                    replace: Self.flag(r.query("replace")))
                return (endpoint, .json(status: 201, rawJSON: Self.json(Self.adapterJSON(record))))
            default:
                try authorize(r)
                try service.deleteAdapter(name: name, force: Self.flag(r.query("force")))
                return (endpoint, HTTPResponse(status: 204))
            }
        }
        if s.count == 4, s[0] == "v1", s[1] == "adapters", s[3] == "activate" {
            adapterLabel = s[2]
            try method("POST")
            try authorize(r)
            let body = try JSONBody(r.body)
            try body.rejectUnknown(["task"])
            let task = try body.requiredString("task")
            try service.activate(name: s[2], task: task)
            return (endpoint, .json(rawJSON: Self.json(["task": task, "adapter": s[2]])))
        }
        if s.count == 3, s[0] == "v1", s[1] == "tasks" {
            try method("DELETE")
            try authorize(r)
            try service.deleteTask(s[2])
            return (endpoint, HTTPResponse(status: 204))
        }
        throw .notFound("not_found", "no route for \(r.method) \(r.path)")
    }

    /// Admin endpoints need the configured bearer token, compared in constant time.
    private func authorize(_ r: HTTPRequest) throws(ServiceError) {
        guard let token = service.settings.adminToken, !token.isEmpty else { return }
        let header = r.headers["Authorization"] ?? ""
        let prefix = "Bearer "
        let given = header.hasPrefix(prefix) ? Array(header.utf8.dropFirst(prefix.utf8.count)) : []
        let expected = Array(token.utf8)
        var diff = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { diff |= expected[i] ^ (i < given.count ? given[i] : 0) }
        guard diff == 0 else {
            throw ServiceError(.unauthorized, "unauthorized", "this endpoint needs \"Authorization: Bearer <admin token>\"")
        }
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
