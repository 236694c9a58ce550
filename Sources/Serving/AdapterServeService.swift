import Foundation
import Logging
import Adapters
import T5
import Tokenization

/// The service behind the HTTP API: one frozen base model, the adapters stored beside it, the
/// task routes, and the inference engine. Every state change that affects which adapter a
/// request gets runs on the engine thread, in order with the requests.
public final class AdapterServeService: @unchecked Sendable {
    public enum Readiness: String, Sendable { case starting, ready, draining }

    public let settings: ServiceSettings
    public let model: T5ForConditionalGeneration
    public let tokenizer: T5Tokenizer
    public let registry: AdapterRegistry
    public let store: AdapterStore
    public let engine: InferenceEngine
    let logger: Logger
    private let lock = NSLock()
    private var routes: [String: String]
    private var createdAt: [String: String] = [:]
    private var _readiness: Readiness = .starting
    /// Adapters found on disk at start-up that could not be loaded, with the reason.
    public private(set) var skippedAdapters: [String: String] = [:]

    public var readiness: Readiness {
        lock.lock(); defer { lock.unlock() }
        return _readiness
    }

    public init(settings: ServiceSettings, logger: Logger) throws(ServiceError) {
        self.settings = settings
        self.logger = logger
        let modelDir = URL(fileURLWithPath: settings.model)
        do { model = try T5ForConditionalGeneration(directory: modelDir) } catch {
            throw ServiceError(500, "model_load_failed", error.message)
        }
        let tokenizerDir = settings.tokenizer.map { URL(fileURLWithPath: $0) } ?? modelDir
        do { tokenizer = try T5Tokenizer(directory: tokenizerDir) } catch {
            throw ServiceError(500, "tokenizer_load_failed", "\(error)")
        }
        registry = AdapterRegistry(base: model, budgetBytes: settings.adapterBudgetBytes)
        store = try AdapterStore(root: URL(fileURLWithPath: settings.adapters))
        engine = InferenceEngine(model: model, maxBatch: settings.maxBatch, maxQueue: settings.maxQueue,
                                 blasThreads: settings.blasThreads)
        routes = [:]
        loadStoredAdapters()
        engine.start()
        lock.lock(); _readiness = .ready; lock.unlock()
    }

    /// Reads every adapter under the adapters directory. A damaged one is logged and skipped,
    /// never deleted: an operator may want to inspect or repair it.
    private func loadStoredAdapters() {
        store.recoverStaging()
        for name in store.storedNames() {
            do {
                try AdapterStore.validateName(name)
                let adapter = try PEFTAdapter.load(directory: store.directory(for: name), base: model)
                try registry.register(name, adapter: adapter, source: store.directory(for: name))
                createdAt[name] = Self.storedCreatedAt(store.readMetadata(name)) ?? Self.timestamp()
                logger.info("loaded adapter", metadata: ["adapter": "\(name)", "kind": "\(adapter.info.kind.rawValue)"])
            } catch {
                skippedAdapters[name] = "\(error)"
                logger.warning("skipping unreadable adapter", metadata: ["adapter": "\(name)", "reason": "\(error)"])
            }
        }
        var restored: [String: String] = [:]
        for (task, name) in store.readRoutes() {
            if registry.summary(name) != nil {
                restored[task] = name
                registry.setPinned(name, true)
            } else {
                logger.warning("dropping route to a missing adapter", metadata: ["task": "\(task)", "adapter": "\(name)"])
            }
        }
        routes = restored
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }

    static func storedCreatedAt(_ data: Data?) -> String? {
        guard let data, let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        return json["created_at"] as? String
    }

    // MARK: summarize

    public func summarize(_ request: SummarizeRequest) throws(ServiceError) -> SummarizeResult {
        let started = Date()
        let problems = request.parameters.problems(maxNewTokensCap: settings.maxNewTokensCap)
        guard problems.isEmpty else { throw .unprocessable("invalid_parameters", problems.joined(separator: "; ")) }
        let text = try request.encoderText()
        let ids = tokenizer.encode(text)
        guard ids.count <= settings.maxInputTokens else {
            throw .unprocessable("input_too_long", "the input is \(ids.count) tokens; the limit is \(settings.maxInputTokens)")
        }
        let task = request.adapters == nil ? (request.task ?? settings.defaultTask) : request.task
        let resolve: @Sendable () -> Result<ResolvedAdapter?, ServiceError> = { [self] in
            resolveAdapter(explicit: request.adapters, task: request.task)
        }
        let deadline = Date().addingTimeInterval(settings.requestTimeoutSeconds)
        let box = ResultBox<GenerationOutput>()
        let job = GenerationJob(ids: ids, parameters: request.parameters, resolveAdapter: resolve, deadline: deadline) { result in
            box.set(result.mapError { $0 as Error })
        }
        try engine.submit(job)
        let output: GenerationOutput
        switch box.wait() {
        case .success(let o): output = o
        case .failure(let e): throw e as? ServiceError ?? ServiceError(500, "internal", "\(e)")
        }
        let reference = output.adapter.map { AdapterReference(name: $0.name, kind: $0.kind, sha256: $0.sha256) }
        return SummarizeResult(summary: tokenizer.decode(output.tokens), adapter: reference,
                               task: task, inputTokens: ids.count, outputTokens: output.tokens.count,
                               tokenIDs: output.tokens, queueMilliseconds: output.queueSeconds * 1000,
                               generationMilliseconds: output.generationSeconds * 1000,
                               totalMilliseconds: Date().timeIntervalSince(started) * 1000)
    }

    /// Explicit adapters, else the task's route, else the default task's, else the base model.
    /// Runs on the engine thread, so it sees routes exactly as of this request's turn.
    func resolveAdapter(explicit: [String]?, task: String?) -> Result<ResolvedAdapter?, ServiceError> {
        var names: [String]
        if let explicit {
            guard !explicit.isEmpty else { return .success(nil) }  // an explicit empty list is the base model
            names = explicit
        } else if let task {
            guard let name = route(for: task) else {
                return .failure(.notFound("task_not_found", "no adapter is active for task '\(task)'; activate one with POST /v1/adapters/{name}/activate"))
            }
            names = [name]
        } else if let task = settings.defaultTask, let name = route(for: task) {
            names = [name]
        } else {
            return .success(nil)
        }
        var parts: [PEFTAdapter] = []
        for name in names {
            do { parts.append(try registry.acquire(name)) } catch {
                if error.code == "adapter_not_found" {
                    return .failure(.notFound("adapter_not_found", "no adapter named '\(name)'"))
                }
                return .failure(ServiceError(500, error.code, error.message))
            }
        }
        if parts.filter({ $0.info.kind.changesWeights }).count > 1 || parts.filter({ !$0.info.kind.changesWeights }).count > 1 {
            return .failure(.unprocessable("invalid_adapter_combination", "a request can stack at most one weight adapter (LoRA, DoRA, AdaLoRA or IA3) and one soft prompt or prefix"))
        }
        let weights = AdapterWeights.combine(parts.map(\.weights))!
        return .success(ResolvedAdapter(name: names.joined(separator: "+"),
                                        kind: parts.map(\.info.kind.rawValue).joined(separator: "+"),
                                        sha256: parts.map(\.info.sha256).joined(separator: "+"), weights: weights))
    }

    private func route(for task: String) -> String? {
        lock.lock(); defer { lock.unlock() }
        return routes[task]
    }

    // MARK: adapters

    /// Validates an uploaded PEFT adapter against the base, stores it atomically and makes it
    /// available, all on the engine thread so requests see either the old or the new version.
    public func putAdapter(name: String, configData: Data, weightsData: Data, replace: Bool) throws(ServiceError) -> AdapterRecord {
        try AdapterStore.validateName(name)
        let started = Date()
        let adapter: PEFTAdapter
        do { adapter = try PEFTAdapter.load(configData: configData, weightsData: weightsData, base: model) } catch {
            throw .unprocessable(error.code, error.message)
        }
        let created = Self.timestamp()
        var meta: [String: Any] = ["name": name, "created_at": created, "sha256": adapter.info.sha256, "kind": adapter.info.kind.rawValue]
        meta["parameter_count"] = adapter.info.parameterCount
        let metaData = (try? JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])) ?? Data()
        return try onEngine { [self] () throws(ServiceError) -> AdapterRecord in
            if registry.summary(name) != nil || store.exists(name) {
                guard replace else {
                    throw .conflict("adapter_exists", "adapter '\(name)' already exists; PUT with ?replace=true to replace it")
                }
            }
            let validated = Date()
            try store.store(name: name, files: [PEFTAdapter.configFile: configData, PEFTAdapter.weightsFile: weightsData], metadata: metaData)
            let stored = Date()
            do throws(AdapterError) {
                try registry.register(name, adapter: adapter, source: store.directory(for: name))
            } catch {
                throw ServiceError(507, error.code, error.message)
            }
            lock.lock(); createdAt[name] = created; lock.unlock()
            logger.info("stored adapter", metadata: [
                "adapter": "\(name)", "sha256": "\(adapter.info.sha256)", "replace": "\(replace)",
                "validate_ms": "\(Int(validated.timeIntervalSince(started) * 1000))",
                "store_ms": "\(Int(stored.timeIntervalSince(validated) * 1000))",
            ])
            return try record(name)
        }
    }

    public func listAdapters() -> [AdapterRecord] {
        registry.list().compactMap { try? record($0.name) }
    }

    public func record(_ name: String) throws(ServiceError) -> AdapterRecord {
        guard let s = registry.summary(name) else { throw .notFound("adapter_not_found", "no adapter named '\(name)'") }
        lock.lock(); defer { lock.unlock() }
        let tasks = routes.filter { $0.value == name }.map(\.key).sorted()
        return AdapterRecord(name: name, info: s.info, createdAt: createdAt[name] ?? "", loaded: s.loaded, pinned: s.pinned, tasks: tasks)
    }

    public func deleteAdapter(name: String, force: Bool) throws(ServiceError) {
        try onEngine { [self] () throws(ServiceError) in
            guard registry.summary(name) != nil || store.exists(name) else {
                throw .notFound("adapter_not_found", "no adapter named '\(name)'")
            }
            lock.lock()
            let routed = routes.filter { $0.value == name }.map(\.key).sorted()
            lock.unlock()
            if !routed.isEmpty && !force {
                throw .conflict("adapter_in_use", "adapter '\(name)' serves task(s) \(routed.joined(separator: ", ")); deactivate them or DELETE with ?force=true")
            }
            if store.exists(name) { try store.delete(name) }
            registry.remove(name)
            lock.lock()
            for task in routed { routes.removeValue(forKey: task) }
            let snapshot = routes
            createdAt.removeValue(forKey: name)
            lock.unlock()
            if !routed.isEmpty { try store.writeRoutes(snapshot) }
            logger.info("deleted adapter", metadata: ["adapter": "\(name)", "routes_removed": "\(routed)"])
        }
    }

    // MARK: tasks

    public func activate(name: String, task: String) throws(ServiceError) {
        guard (1...64).contains(task.count), !task.contains(where: { $0.isNewline || $0 == "/" }) else {
            throw .badRequest("task must be 1-64 characters without '/' or newlines")
        }
        try onEngine { [self] () throws(ServiceError) in
            guard registry.summary(name) != nil else { throw .notFound("adapter_not_found", "no adapter named '\(name)'") }
            do throws(AdapterError) { _ = try registry.acquire(name) } catch { throw ServiceError(500, error.code, error.message) }
            lock.lock()
            let previous = routes[task]
            routes[task] = name
            let snapshot = routes
            lock.unlock()
            do throws(ServiceError) { try store.writeRoutes(snapshot) } catch {
                lock.lock(); routes[task] = previous; lock.unlock()
                throw error
            }
            registry.setPinned(name, true)
            if let previous, previous != name, !snapshot.values.contains(previous) { registry.setPinned(previous, false) }
            logger.info("activated adapter", metadata: ["adapter": "\(name)", "task": "\(task)"])
        }
    }

    public func tasks() -> [String: String] {
        lock.lock(); defer { lock.unlock() }
        return routes
    }

    public func deleteTask(_ task: String) throws(ServiceError) {
        try onEngine { [self] () throws(ServiceError) in
            lock.lock()
            guard let name = routes.removeValue(forKey: task) else {
                lock.unlock()
                throw .notFound("task_not_found", "no task named '\(task)'")
            }
            let snapshot = routes
            lock.unlock()
            try store.writeRoutes(snapshot)
            if !snapshot.values.contains(name) { registry.setPinned(name, false) }
        }
    }

    /// True when the base model and every routed adapter are resident.
    public var isReady: Bool {
        guard readiness == .ready else { return false }
        return tasks().values.allSatisfy { registry.summary($0)?.loaded == true }
    }

    /// Stops taking requests and waits for those in flight.
    public func drain() {
        lock.lock(); _readiness = .draining; lock.unlock()
        engine.drain()
    }

    /// Runs `body` on the engine thread, in order with queued requests.
    func onEngine<T: Sendable>(_ body: @escaping @Sendable () throws(ServiceError) -> T) throws(ServiceError) -> T {
        let requestID = RequestContext.requestID
        do {
            return try engine.perform { try RequestContext.$requestID.withValue(requestID) { try body() } }
        } catch let e as ServiceError {
            throw e
        } catch {
            throw ServiceError(500, "internal", "\(error)")
        }
    }
}
