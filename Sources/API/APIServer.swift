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
        HTTPServer(configuration: HTTPServerConfiguration(host: s.host, port: s.port, maxBodyBytes: s.maxBodyBytes))
    }

    /// Throws `AccessError` when protected mode refuses the bind or the API keys are unusable.
    public func start() throws {
        try access.prepare()  // issue 18: protected mode, API keys
        if !transportIsRunning { try http.start { [self] request in handle(request) } }
        try startMetricsListener()  // issue 18: --metrics-port
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

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let requestID = RequestID.accept(request.headers[RequestID.header])
        var response = RequestID.with(requestID) { handleIdentified(request) }
        response.headers.set(RequestID.header, requestID)
        return response
    }

    private func handleIdentified(_ request: HTTPRequest) -> HTTPResponse {
        let started = Date()
        var adapterLabel = ""
        let endpoint: String
        var response: HTTPResponse
        do {
            if let denied = access.denial(for: request) {  // issue 18: keys, admin token, disabled admin
                (endpoint, response) = (Self.endpointName(request), denied)
            } else {
                (endpoint, response) = try route(request, adapterLabel: &adapterLabel)
            }
        } catch {
            endpoint = Self.endpointName(request)
            var headers = HTTPHeaders()
            if let retry = error.retryAfterSeconds { headers.set("Retry-After", String(retry)) }
            if error.status == 405 { headers.set("Allow", Self.allowedMethods(request.pathSegments).joined(separator: ", ")) }
            response = .error(status: error.status, code: error.code, message: error.message, headers: headers)
        }
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
                throw ServiceError(405, "method_not_allowed", "\(r.method) is not allowed on \(endpoint)")
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
            return (endpoint, .json(status: ready ? 200 : 503,
                                    rawJSON: Self.json(["status": ready ? "ready" : service.readiness.rawValue])))
        case ["metrics"]:
            try method("GET")
            return (endpoint, .text(metrics.render(service: service), contentType: "text/plain; version=0.0.4; charset=utf-8"))
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
                try AdapterStoreName.validate(name)
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

/// Name rules shared with the store, checked before an upload body is even decoded.
enum AdapterStoreName {
    static func validate(_ name: String) throws(ServiceError) { try AdapterStore.validateName(name) }
}
