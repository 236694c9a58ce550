import Foundation
import Logging
import Adapters
import T5
import Numerics
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
    /// Per-request LoRA combinations already built (RequestCombination.swift).
    let combinations = CombinationCache()
    let logger: Logger
    let lock = NSLock()
    var routes: [String: String]
    var createdAt: [String: String] = [:]
    private var _readiness: Readiness = .starting
    /// Adapters found on disk at start-up that could not be loaded, with the reason.
    public private(set) var skippedAdapters: [String: String] = [:]
    /// What start-up could not take as it found it (damaged routes file, routes to missing
    /// adapters, unreadable adapters): logged as errors and listed by /readyz. Each re-read of
    /// the shared store (issue 12) replaces it with what that read found.
    public var startupProblems: [String] {
        lock.lock(); defer { lock.unlock() }
        return problems
    }
    var problems: [String] = []
    /// Neither routes.json nor its backup could be read: not ready until a route change
    /// writes a fresh routes file, because every task would answer 404.
    var routesLost = false
    // Issue 12, shared store: the generation of this replica's last own change (a re-read of
    // an older store state is not applied), and the thread that polls for other replicas'.
    var storeGeneration: UInt64 = 0
    private var watcher: StoreWatcher?

    public var readiness: Readiness {
        lock.lock(); defer { lock.unlock() }
        return _readiness
    }

    public init(settings: ServiceSettings, logger: Logger) throws(ServiceError) {
        self.settings = settings
        self.logger = logger
        let modelDir = URL(fileURLWithPath: settings.model)
        guard let weights = WeightFormat(rawValue: settings.weights) else {
            throw ServiceError(.invalidRequest, "invalid_weights", ServiceSettings.weightsMessage(settings.weights))
        }
        do { model = try T5ForConditionalGeneration(directory: modelDir, weightFormat: weights) } catch {
            throw ServiceError(.internalFailure, "model_load_failed", error.message)
        }
        let tokenizerDir = settings.tokenizer.map { URL(fileURLWithPath: $0) } ?? modelDir
        do { tokenizer = try T5Tokenizer(directory: tokenizerDir) } catch {
            throw ServiceError(.internalFailure, "tokenizer_load_failed", "\(error)")
        }
        registry = AdapterRegistry(base: model, budgetBytes: settings.adapterBudgetBytes)
        store = try AdapterStore(root: URL(fileURLWithPath: settings.adapters))
        engine = InferenceEngine(model: model, maxBatch: settings.maxBatch, maxQueue: settings.maxQueue,
                                 blasThreads: settings.blasThreads)
        routes = [:]
        loadStoredAdapters()
        engine.loadAdapter = { [weak self] name in
            guard let self else { return .failure(ServiceError(.unavailable, "draining", "the server is shutting down")) }
            do throws(ServiceError) { try self.reloadLocked(name); return .success(()) } catch { return .failure(error) }
        }
        engine.applyChange = { [weak self] change in
            self?.apply(change) ?? .failure(ServiceError(.unavailable, "draining", "the server is shutting down"))
        }
        engine.start()
        if settings.storePollSeconds > 0 {  // issue 12: adopt other replicas' changes
            watcher = StoreWatcher(service: self, interval: settings.storePollSeconds)
            watcher?.start()
        }
        lock.lock(); _readiness = .ready; lock.unlock()
    }

    /// Reads every adapter under the adapters directory. A damaged one is logged and skipped,
    /// never deleted: an operator may want to inspect or repair it.
    private func loadStoredAdapters() {
        store.recoverStaging()
        for name in store.storedNames() {
            do {
                let directory = try store.directory(for: name)
                let adapter = try PEFTAdapter.load(directory: directory, base: model)
                try registry.register(name, adapter: adapter, source: directory)
                createdAt[name] = Self.storedCreatedAt(store.readMetadata(name)) ?? Self.timestamp()
                logger.info("loaded adapter", metadata: ["adapter": "\(name)", "kind": "\(adapter.info.kind.rawValue)"])
            } catch {
                skippedAdapters[name] = "\(error)"
                logger.warning("skipping unreadable adapter", metadata: ["adapter": "\(name)", "reason": "\(error)"])
            }
        }
        for (name, reason) in skippedAdapters.sorted(by: { $0.key < $1.key }) {
            problems.append("adapter '\(name)' was not loaded: \(reason)")
        }
        let reading = store.readRoutes()
        for problem in reading.problems {
            logger.error("routes file", metadata: ["problem": "\(problem)"])
            problems.append(problem)
        }
        routesLost = reading.unreadable
        var restored: [String: String] = [:]
        for (task, name) in reading.routes.sorted(by: { $0.key < $1.key }) {
            if (try? store.directory(for: name)) != nil, registry.summary(name) != nil {
                restored[task] = name
                registry.setPinned(name, true)
            } else {
                let problem = "task '\(task)' routes to adapter '\(name)', which is not loaded; the route is not served and leaves the routes file at the next route change"
                logger.error("route to a missing adapter", metadata: ["task": "\(task)", "adapter": "\(name)"])
                problems.append(problem)
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

    /// Blocking form of `startSummarize`, for callers with a thread to spare.
    public func summarize(_ request: SummarizeRequest) throws(ServiceError) -> SummarizeResult {
        let box = ResultBox<SummarizeResult>()
        try startSummarize(request) { box.set($0.mapError { $0 as Error }) }
        do { return try box.wait().get() } catch { throw error as? ServiceError ?? ServiceError(.internalFailure, "internal", "\(error)") }
    }

    /// Validates and tokenizes on the caller's thread, queues the generation and returns its ID
    /// (for `cancel`); `completion` runs on the engine thread when it finishes, fails or is
    /// cancelled. Nothing waits in between.
    ///
    /// `onProgress` (streaming) runs on the engine thread with each step's new tokens, before
    /// `completion`; see `GenerationJob.onTokens`.
    @discardableResult
    public func startSummarize(_ request: SummarizeRequest,
                               onProgress: (@Sendable (SummaryProgress) -> Void)? = nil,
                               completion: @escaping @Sendable (Result<SummarizeResult, ServiceError>) -> Void) throws(ServiceError) -> GenerationID {
        let started = Date()
        let problems = request.parameters.problems(maxNewTokensCap: settings.maxNewTokensCap)
        guard problems.isEmpty else { throw .unprocessable("invalid_parameters", problems.joined(separator: "; ")) }
        let text = try request.encoderText()
        let ids = tokenizer.encode(text)
        guard ids.count <= settings.maxInputTokens else {
            throw .unprocessable("input_too_long", "the input is \(ids.count) tokens; the limit is \(settings.maxInputTokens)")
        }
        if let members = request.combination {
            do throws(AdapterError) { try RequestCombination.validate(members) } catch {
                throw ServiceError(.invalidRequest, error.code, error.message)
            }
        }
        let task = request.adapters == nil && request.combination == nil ? (request.task ?? settings.defaultTask) : request.task
        let deadline = Date().addingTimeInterval(settings.requestTimeoutSeconds)
        let tokenizer = self.tokenizer
        let combination = request.combination.map(RequestCombination.canonical)
        var job = GenerationJob(ids: ids, parameters: request.parameters, resolve: { [weak self] in
            guard let self else { return .failed(ServiceError(.unavailable, "draining", "the server is shutting down")) }
            if let combination { return self.resolve(combination: combination) }
            return self.resolveAdapter(explicit: request.adapters, task: request.task)
        }, deadline: deadline) { result in
            completion(result.map { output in
                let reference = output.adapter.map { Self.reference($0, combination: combination) }
                return SummarizeResult(summary: tokenizer.decode(output.tokens), adapter: reference,
                                       task: task, inputTokens: ids.count, outputTokens: output.tokens.count,
                                       tokenIDs: output.tokens, queueMilliseconds: output.queueSeconds * 1000,
                                       generationMilliseconds: output.generationSeconds * 1000,
                                       totalMilliseconds: Date().timeIntervalSince(started) * 1000,
                                       firstTokenSeconds: output.firstTokenSeconds, tokenGapSeconds: output.tokenGapSeconds)
            })
        }
        if let onProgress {
            job.onTokens = { tokens, adapter in
                onProgress(SummaryProgress(tokens: tokens, adapter: adapter.map { Self.reference($0, combination: combination) }))
            }
        }
        return try engine.submit(job)
    }

    /// Stops a generation started with `startSummarize` (its client went away).
    public func cancel(_ id: GenerationID) { engine.cancel(id) }

    /// Explicit adapters, else the task's route, else the default task's, else the base model.
    /// Runs on the engine thread, so it sees routes exactly as of this request's turn.
    func resolveAdapter(explicit: [String]?, task: String?) -> AdapterResolution {
        if let explicit {
            guard !explicit.isEmpty else { return .ready(nil) }  // an explicit empty list is the base model
            return resolve(names: explicit)
        }
        if let task {
            guard let name = route(for: task) else {
                return .failed(.notFound("task_not_found", "no adapter is active for task '\(task)'; activate one with POST /v1/adapters/{name}/activate"))
            }
            return resolve(names: [name])
        }
        if let task = settings.defaultTask, let name = route(for: task) { return resolve(names: [name]) }
        return .ready(nil)
    }

    /// The named adapters from memory; evicted ones are left to the loader thread (the engine
    /// parks the request and calls `then` when they are back), so this never reads the disk.
    func resolve(names: [String]) -> AdapterResolution {
        var parts: [PEFTAdapter] = []
        var evicted: [String] = []
        for name in names {
            do throws(ServiceError) { _ = try store.directory(for: name) } catch { return .failed(error) }
            switch registry.lookup(name) {
            case .resident(let adapter): parts.append(adapter)
            case .evicted: evicted.append(name)
            case .missing: return .failed(.notFound("adapter_not_found", "no adapter named '\(name)'"))
            }
        }
        if !evicted.isEmpty { return .needsLoading(evicted, then: { [weak self] in self?.resolve(names: names) ?? .ready(nil) }) }
        if parts.filter({ $0.info.kind.changesWeights }).count > 1 || parts.filter({ !$0.info.kind.changesWeights }).count > 1 {
            return .failed(.unprocessable("invalid_adapter_combination", "a request can stack at most one weight adapter (LoRA, DoRA, AdaLoRA or IA3) and one soft prompt or prefix"))
        }
        let weights = AdapterWeights.combine(parts.map(\.weights))!
        return .ready(ResolvedAdapter(name: names.joined(separator: "+"),
                                      kind: parts.map(\.info.kind.rawValue).joined(separator: "+"),
                                      sha256: parts.map(\.info.sha256).joined(separator: "+"), weights: weights))
    }

    /// The members of a combination (canonical order) from memory, combined into one LoRA or
    /// taken from the cache; evicted members are read back first, as for `resolve(names:)`.
    func resolve(combination members: [CombinationMember]) -> AdapterResolution {
        var parts: [(member: CombinationMember, adapter: PEFTAdapter)] = []
        var evicted: [String] = []
        for member in members {
            do throws(ServiceError) { _ = try store.directory(for: member.name) } catch { return .failed(error) }
            switch registry.lookup(member.name) {
            case .resident(let adapter): parts.append((member, adapter))
            case .evicted: evicted.append(member.name)
            case .missing: return .failed(.notFound("adapter_not_found", "no adapter named '\(member.name)' (a member of adapter.combine)"))
            }
        }
        if !evicted.isEmpty { return .needsLoading(evicted, then: { [weak self] in self?.resolve(combination: members) ?? .ready(nil) }) }
        let shas = parts.map(\.adapter.info.sha256)
        let weights: AdapterWeights
        do throws(AdapterError) {
            weights = try combinations.weights(for: CombinationCache.Key(members: members, sha256: shas)) { () throws(AdapterError) in
                try RequestCombination.build(parts, siteKeys: model.linearSites)
            }
        } catch {
            return .failed(.unprocessable(error.code, error.message))
        }
        return .ready(ResolvedAdapter(name: RequestCombination.label(members), kind: Self.combinationKind,
                                      sha256: shas.joined(separator: "+"), weights: weights))
    }

    /// `kind` of a combination in responses (its members are all LoRAs).
    static let combinationKind = "combination"

    /// What a response reports about the adapter that served; a combination also lists its
    /// members with their weights and the SHA-256 each had (the resolved `sha256` joins them
    /// in the same canonical order).
    static func reference(_ adapter: ResolvedAdapter, combination: [CombinationMember]?) -> AdapterReference {
        var reference = AdapterReference(name: adapter.name, kind: adapter.kind, sha256: adapter.sha256)
        if let combination, adapter.kind == combinationKind {
            let shas = adapter.sha256.split(separator: "+").map(String.init)
            reference.combine = zip(combination, shas).map { CombinedMember(name: $0.name, weight: $0.weight, sha256: $1) }
        }
        return reference
    }

    private func route(for task: String) -> String? {
        lock.lock(); defer { lock.unlock() }
        return routes[task]
    }

    // MARK: adapters

    /// Validates an uploaded PEFT adapter against the base and writes its files to staging on
    /// the caller's thread; only the rename into place and the registration run on the engine
    /// thread (a `store` state change), so requests see either the old or the new version and
    /// decoding never waits for a parse, a hash or an fsync.
    public func putAdapter(name: String, configData: Data, weightsData: Data, replace: Bool) throws(ServiceError) -> AdapterRecord {
        _ = try store.directory(for: name)
        let started = Date()
        let adapter: PEFTAdapter
        do { adapter = try PEFTAdapter.load(configData: configData, weightsData: weightsData, base: model) } catch {
            throw .unprocessable(error.code, error.message)
        }
        let created = Self.timestamp()
        var meta: [String: Any] = ["name": name, "created_at": created, "sha256": adapter.info.sha256, "kind": adapter.info.kind.rawValue]
        meta["parameter_count"] = adapter.info.parameterCount
        let metaData = (try? JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])) ?? Data()
        let validated = Date()
        let staged = try store.stage(files: [PEFTAdapter.configFile: configData, PEFTAdapter.weightsFile: weightsData], metadata: metaData)
        let stagedAt = Date()
        do {
            try engine.apply(.store(StoredAdapter(name: name, adapter: adapter, staged: staged, createdAt: created, replace: replace)))
        } catch {
            store.discard(staged)
            throw error
        }
        logger.info("stored adapter", metadata: [
            "adapter": "\(name)", "sha256": "\(adapter.info.sha256)", "replace": "\(replace)",
            "validate_ms": "\(Int(validated.timeIntervalSince(started) * 1000))",
            "store_ms": "\(Int(stagedAt.timeIntervalSince(validated) * 1000))",
        ])
        return try record(name)
    }

    public func listAdapters() -> [AdapterRecord] {
        registry.list().compactMap { try? record($0.name) }
    }

    public func record(_ name: String) throws(ServiceError) -> AdapterRecord {
        _ = try store.directory(for: name)
        guard let s = registry.summary(name) else { throw .notFound("adapter_not_found", "no adapter named '\(name)'") }
        lock.lock(); defer { lock.unlock() }
        let tasks = routes.filter { $0.value == name }.map(\.key).sorted()
        return AdapterRecord(name: name, info: s.info, createdAt: createdAt[name] ?? "", loaded: s.loaded, pinned: s.pinned, tasks: tasks)
    }

    public func deleteAdapter(name: String, force: Bool) throws(ServiceError) {
        _ = try store.directory(for: name)
        try engine.apply(.delete(adapter: name, force: force))
    }

    // MARK: tasks

    public func activate(name: String, task: String) throws(ServiceError) {
        guard (1...64).contains(task.count), !task.contains(where: { $0.isNewline || $0 == "/" }) else {
            throw .badRequest("task must be 1-64 characters without '/' or newlines")
        }
        _ = try store.directory(for: name)
        // Read it back now (on this thread) if it was evicted, so the route serves at once.
        do throws(ServiceError) { try reloadLocked(name) } catch {
            // Issue 12: stored by another replica moments ago and not adopted yet: read it now.
            guard error.code == "adapter_not_found", try adoptStored(name) else { throw error }
        }
        try engine.apply(.activate(adapter: name, task: task))
    }

    public func deleteTask(_ task: String) throws(ServiceError) {
        try engine.apply(.deactivate(task: task))
    }

    // MARK: state changes, on the engine thread

    /// Applies one state change; the engine calls this between decoder steps, in queue order.
    func apply(_ change: StateChange) -> Result<Void, ServiceError> {
        do throws(ServiceError) {
            switch change {
            case .store(let stored): try applyStore(stored)
            case .delete(let name, let force): try applyDelete(name, force: force)
            case .activate(let name, let task): try applyActivate(name, task: task)
            case .deactivate(let task): try applyDeactivate(task)
            case .sync(let sync): try applySync(sync)
            }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// The check and the rename run under the store's writer lock, so of two replicas storing
    /// the same new name at once exactly one succeeds; the disk, shared by every replica, decides.
    private func applyStore(_ s: StoredAdapter) throws(ServiceError) {
        try store.locked { () throws(ServiceError) in
            guard try !store.exists(s.name) || s.replace else {
                throw .conflict("adapter_exists", "adapter '\(s.name)' already exists; PUT with ?replace=true to replace it")
            }
            noteGeneration(try store.announcing { () throws(ServiceError) in try store.commit(s.staged, as: s.name) })
        }
        let directory = try store.directory(for: s.name)
        do throws(AdapterError) {
            try registry.register(s.name, adapter: s.adapter, source: directory)
        } catch {
            throw ServiceError(.insufficientStorage, error.code, error.message)
        }
        combinations.drop(member: s.name)
        lock.lock(); createdAt[s.name] = s.createdAt; lock.unlock()
    }

    /// Under the writer lock: the routes checked and rewritten are the ones on disk, merged by
    /// every replica, so a route another replica just added is neither lost nor ignored.
    private func applyDelete(_ name: String, force: Bool) throws(ServiceError) {
        let routed = try store.locked { () throws(ServiceError) -> [String] in
            let onDisk = try store.exists(name)
            guard registry.summary(name) != nil || onDisk else {
                throw .notFound("adapter_not_found", "no adapter named '\(name)'")
            }
            var stored = store.currentRoutes()
            lock.lock()
            let routed = Set(routes.filter { $0.value == name }.map(\.key) + stored.filter { $0.value == name }.map(\.key)).sorted()
            lock.unlock()
            if !routed.isEmpty && !force {
                throw .conflict("adapter_in_use", "adapter '\(name)' serves task(s) \(routed.joined(separator: ", ")); deactivate them or DELETE with ?force=true")
            }
            for task in routed { stored.removeValue(forKey: task) }
            noteGeneration(try store.announcing { () throws(ServiceError) in
                if onDisk { try store.delete(name) }
                if !routed.isEmpty { try saveRoutes(stored) }
            })
            return routed
        }
        registry.remove(name)
        combinations.drop(member: name)
        lock.lock()
        for task in routed { routes.removeValue(forKey: task) }
        createdAt.removeValue(forKey: name)
        lock.unlock()
        logger.info("deleted adapter", metadata: ["adapter": "\(name)", "routes_removed": "\(routed)"])
    }

    /// A read-modify-write of the routes file under the writer lock: two replicas activating
    /// different tasks at once both keep their route.
    private func applyActivate(_ name: String, task: String) throws(ServiceError) {
        guard registry.summary(name) != nil else { throw .notFound("adapter_not_found", "no adapter named '\(name)'") }
        try store.locked { () throws(ServiceError) in
            guard try store.exists(name) else { throw .notFound("adapter_not_found", "no adapter named '\(name)' (another replica deleted it)") }
            var stored = store.currentRoutes()
            stored[task] = name
            noteGeneration(try store.announcing { () throws(ServiceError) in try saveRoutes(stored) })
        }
        lock.lock()
        let previous = routes[task]
        routes[task] = name
        let snapshot = routes
        lock.unlock()
        registry.setPinned(name, true)
        if let previous, previous != name, !snapshot.values.contains(previous) { registry.setPinned(previous, false) }
        logger.info("activated adapter", metadata: ["adapter": "\(name)", "task": "\(task)"])
    }

    private func applyDeactivate(_ task: String) throws(ServiceError) {
        try store.locked { () throws(ServiceError) in
            var stored = store.currentRoutes()
            lock.lock(); let known = routes[task] != nil; lock.unlock()
            guard stored.removeValue(forKey: task) != nil || known else {
                throw .notFound("task_not_found", "no task named '\(task)'")
            }
            noteGeneration(try store.announcing { () throws(ServiceError) in try saveRoutes(stored) })
        }
        lock.lock()
        let name = routes.removeValue(forKey: task)
        let snapshot = routes
        lock.unlock()
        if let name, !snapshot.values.contains(name) { registry.setPinned(name, false) }
    }

    /// Writes the routes file; a successful write also ends a start-up "routes lost" state.
    /// Callers hold the store's writer lock and write the routes merged from disk.
    private func saveRoutes(_ snapshot: [String: String]) throws(ServiceError) {
        try store.writeRoutes(snapshot)
        lock.lock(); routesLost = false; lock.unlock()
    }

    public func tasks() -> [String: String] {
        lock.lock(); defer { lock.unlock() }
        return routes
    }

    /// True when the base model and every routed adapter are resident, and the routes were
    /// read (from the file or its backup).
    public var isReady: Bool {
        guard readiness == .ready else { return false }
        lock.lock(); let lost = routesLost; lock.unlock()
        guard !lost else { return false }
        return tasks().values.allSatisfy { registry.summary($0)?.loaded == true }
    }

    /// Stops taking requests and waits for those in flight.
    public func drain() {
        lock.lock(); _readiness = .draining; lock.unlock()
        watcher?.stop()
        engine.drain()
    }
}

/// An upload validated and staged on disk, waiting for the engine to put it into place.
public struct StoredAdapter: Sendable {
    public let name: String
    public let adapter: PEFTAdapter
    public let staged: AdapterStore.Staged
    public let createdAt: String
    public let replace: Bool
}
