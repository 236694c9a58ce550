import Foundation
import Numerics

/// Everything an operator can set, from the config file, environment or command line.
public struct ServiceSettings: Sendable, Codable, Equatable {
    public var model: String = "models/flan-t5-base"
    /// Where the tokenizer files are, when not beside the weights.
    public var tokenizer: String?
    public var adapters: String = "adapters"
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Task used when a request names neither an adapter nor a task.
    public var defaultTask: String?
    public var adminToken: String?
    public var maxBatch: Int = 16
    public var maxQueue: Int = 64
    public var maxBodyBytes: Int = 64 << 20
    public var maxInputTokens: Int = 1024
    public var maxNewTokensCap: Int = 512
    public var requestTimeoutSeconds: Double = 300
    public var adapterBudgetBytes: Int = 2 << 30
    public var maxEvaluateItems: Int = 50
    public var blasThreads: Int?
    /// Issue 18: API keys, admin endpoint exposure, metrics port (AccessSettings.swift).
    public var access = AccessSettings()
    /// `text`, `json` (one object per line) or `auto` (text on a terminal); see API.LogFormat.
    public var logFormat: String?
    /// Open connections the server keeps (idle ones cost a descriptor, not a thread).
    public var connectionLimit: Int = 4096
    /// Connections per client address; 0 = off (behind a load balancer every client shares one).
    public var perIPConnectionLimit: Int = 0
    /// Seconds a client has to send a whole header block; 0 = no deadline.
    public var headerTimeoutSeconds: Double = 10
    /// Seconds a connection may sit idle before it is closed.
    public var idleTimeoutSeconds: Int = 30
    /// Seconds between polls of the shared store's generation marker (issue 12: replicas over
    /// one adapters directory see each other's changes); 0 = never poll (a single replica).
    public var storePollSeconds: Double = 1
    /// How the frozen base's weights are held: fp32 (token-exact), bf16, int8 or nf4 (QLoRA's
    /// 4-bit NormalFloat); adapters stay fp32 on top of any of them.
    public var weights: String = "fp32"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, tokenizer, adapters, host, port
        case defaultTask = "default_task", adminToken = "admin_token", maxBatch = "max_batch"
        case maxQueue = "max_queue", maxBodyBytes = "max_body_bytes", maxInputTokens = "max_input_tokens"
        case maxNewTokensCap = "max_new_tokens_cap", requestTimeoutSeconds = "request_timeout_seconds"
        case adapterBudgetBytes = "adapter_budget_bytes", maxEvaluateItems = "max_evaluate_items"
        case blasThreads = "blas_threads", logFormat = "log_format"
        case connectionLimit = "connection_limit", perIPConnectionLimit = "per_ip_connection_limit"
        case headerTimeoutSeconds = "header_timeout_seconds", idleTimeoutSeconds = "idle_timeout_seconds"
        case storePollSeconds = "store_poll_seconds"
        case weights
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ServiceSettings()
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? d.model
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer)
        adapters = try c.decodeIfPresent(String.self, forKey: .adapters) ?? d.adapters
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        defaultTask = try c.decodeIfPresent(String.self, forKey: .defaultTask)
        adminToken = try c.decodeIfPresent(String.self, forKey: .adminToken)
        maxBatch = try c.decodeIfPresent(Int.self, forKey: .maxBatch) ?? d.maxBatch
        maxQueue = try c.decodeIfPresent(Int.self, forKey: .maxQueue) ?? d.maxQueue
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
        maxInputTokens = try c.decodeIfPresent(Int.self, forKey: .maxInputTokens) ?? d.maxInputTokens
        maxNewTokensCap = try c.decodeIfPresent(Int.self, forKey: .maxNewTokensCap) ?? d.maxNewTokensCap
        requestTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .requestTimeoutSeconds) ?? d.requestTimeoutSeconds
        adapterBudgetBytes = try c.decodeIfPresent(Int.self, forKey: .adapterBudgetBytes) ?? d.adapterBudgetBytes
        maxEvaluateItems = try c.decodeIfPresent(Int.self, forKey: .maxEvaluateItems) ?? d.maxEvaluateItems
        blasThreads = try c.decodeIfPresent(Int.self, forKey: .blasThreads)
        access = try AccessSettings(from: decoder)  // issue 18: its keys sit flat in the same file
        logFormat = try c.decodeIfPresent(String.self, forKey: .logFormat)
        connectionLimit = try c.decodeIfPresent(Int.self, forKey: .connectionLimit) ?? d.connectionLimit
        perIPConnectionLimit = try c.decodeIfPresent(Int.self, forKey: .perIPConnectionLimit) ?? d.perIPConnectionLimit
        headerTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .headerTimeoutSeconds) ?? d.headerTimeoutSeconds
        idleTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
        storePollSeconds = try c.decodeIfPresent(Double.self, forKey: .storePollSeconds) ?? d.storePollSeconds
        weights = try c.decodeIfPresent(String.self, forKey: .weights) ?? d.weights
        guard WeightFormat(rawValue: weights) != nil else {
            throw DecodingError.dataCorruptedError(forKey: .weights, in: c, debugDescription: Self.weightsMessage(weights))
        }
    }

    /// Overrides from ADAPTER_SERVE_* environment variables (e.g. ADAPTER_SERVE_PORT,
    /// ADAPTER_SERVE_ADMIN_TOKEN, ADAPTER_SERVE_DEFAULT_TASK).
    public mutating func apply(environment env: [String: String]) throws(ServiceError) {
        func v(_ key: String) -> String? { env["ADAPTER_SERVE_" + key] }
        func int(_ key: String) throws(ServiceError) -> Int? {
            guard let s = v(key) else { return nil }
            guard let n = Int(s) else { throw .badRequest("environment ADAPTER_SERVE_\(key)=\(s) is not an integer") }
            return n
        }
        if let s = v("MODEL") { model = s }
        if let s = v("TOKENIZER") { tokenizer = s }
        if let s = v("ADAPTERS") { adapters = s }
        if let s = v("HOST") { host = s }
        if let n = try int("PORT") { port = n }
        if let s = v("DEFAULT_TASK") { defaultTask = s }
        if let s = v("ADMIN_TOKEN"), !s.isEmpty { adminToken = s }
        if let n = try int("MAX_BATCH") { maxBatch = n }
        if let n = try int("MAX_QUEUE") { maxQueue = n }
        if let n = try int("MAX_BODY_BYTES") { maxBodyBytes = n }
        if let n = try int("MAX_INPUT_TOKENS") { maxInputTokens = n }
        if let n = try int("MAX_NEW_TOKENS_CAP") { maxNewTokensCap = n }
        if let n = try int("REQUEST_TIMEOUT_SECONDS") { requestTimeoutSeconds = Double(n) }
        if let n = try int("BLAS_THREADS") { blasThreads = n }
        try access.apply(environment: env)  // issue 18
        if let s = v("LOG_FORMAT") { logFormat = s }
        if let n = try int("CONNECTION_LIMIT") { connectionLimit = n }
        if let n = try int("PER_IP_CONNECTION_LIMIT") { perIPConnectionLimit = n }
        if let n = try int("HEADER_TIMEOUT_SECONDS") { headerTimeoutSeconds = Double(n) }
        if let n = try int("IDLE_TIMEOUT_SECONDS") { idleTimeoutSeconds = n }
        if let s = v("STORE_POLL_SECONDS") {
            guard let n = Double(s), n >= 0, n.isFinite else { throw .badRequest("environment ADAPTER_SERVE_STORE_POLL_SECONDS=\(s) is not a number of seconds >= 0") }
            storePollSeconds = n
        }
        if let s = v("WEIGHTS") {
            guard WeightFormat(rawValue: s) != nil else { throw .badRequest("environment ADAPTER_SERVE_WEIGHTS: " + Self.weightsMessage(s)) }
            weights = s
        }
    }

    static func weightsMessage(_ value: String) -> String {
        "weights '\(value)' is not one of: " + WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")
    }

    public static func load(file: URL) throws(ServiceError) -> ServiceSettings {
        guard let data = try? Data(contentsOf: file) else { throw .badRequest("cannot read config file \(file.path)") }
        do { return try JSONDecoder().decode(ServiceSettings.self, from: data) } catch {
            throw .badRequest("config file \(file.path) is not valid: \(error)")
        }
    }
}
