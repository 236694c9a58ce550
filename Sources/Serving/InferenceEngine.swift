import Foundation
import Numerics
import T5

/// Identifies one submitted generation, so it can be cancelled.
public struct GenerationID: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64
    public var description: String { "#\(value)" }
}

/// What the engine thread works on, as values (llama.cpp's server_task types) rather than
/// opaque closures: the queue can be inspected, a cancellation can find its generation, and
/// every kind of work is visible in one switch.
enum EngineTask {
    /// Admit a generation (resolve its adapter, encode it, add it to the running batch).
    case generate(GenerationID, GenerationJob)
    /// Change routes or adapters (activate, replace, delete, deactivate) in queue order with
    /// generations: requests queued before it use the old state, those after it the new.
    case change(StateChange, @Sendable (Result<Void, ServiceError>) -> Void)
    /// The loader thread finished reading an adapter: generations waiting for it re-enter.
    case adapterLoaded(String, Result<Void, ServiceError>)
    /// Runs a caller's code on the engine thread (`perform`: tests and tools that must hold
    /// the engine at an exact point). The service's own changes never use it.
    case call(@Sendable () -> Void)
}

/// The state changes the engine orders with generations; the service applies them.
public enum StateChange: Sendable {
    case activate(adapter: String, task: String)
    case deactivate(task: String)
    case store(StoredAdapter)
    case delete(adapter: String, force: Bool)
    /// Adopt what other replicas changed in the shared adapters directory (issue 12).
    case sync(StoreSync)
}

/// How a generation's adapter resolves when it is admitted.
public enum AdapterResolution: Sendable {
    case ready(ResolvedAdapter?)
    /// These adapters are known but not in memory: the loader thread reads them, then `then`
    /// resolves again (with the same names, so a route change meanwhile does not apply).
    case needsLoading([String], then: @Sendable () -> AdapterResolution)
    case failed(ServiceError)
}

/// A request to generate, with everything resolved except the adapter route, which is
/// resolved when the engine admits it, in queue order with state changes.
public struct GenerationJob: Sendable {
    public var ids: [Int32]
    public var parameters: GenerationParameters
    /// Runs on the engine thread at admission; must not read the disk (answer `needsLoading`).
    public var resolve: @Sendable () -> AdapterResolution
    public var deadline: Date?
    public var completion: @Sendable (Result<GenerationOutput, ServiceError>) -> Void
    /// Streaming: runs on the engine thread right after each decoder step with the tokens it
    /// produced (greedy and sampling: one; beam search: the whole output once, just before
    /// `completion`, since the best beam is only known at the end). Must return at once
    /// (hand the tokens to another queue): every request in the batch waits for it.
    public var onTokens: (@Sendable (_ tokens: [Int32], _ adapter: ResolvedAdapter?) -> Void)?

    public init(ids: [Int32], parameters: GenerationParameters,
                resolve: @escaping @Sendable () -> AdapterResolution,
                deadline: Date? = nil,
                completion: @escaping @Sendable (Result<GenerationOutput, ServiceError>) -> Void) {
        self.ids = ids; self.parameters = parameters; self.resolve = resolve
        self.deadline = deadline; self.completion = completion
    }

    /// With an adapter (or an error) known up front: for tools and tests.
    public init(ids: [Int32], parameters: GenerationParameters,
                resolveAdapter: @escaping @Sendable () -> Result<ResolvedAdapter?, ServiceError> = { .success(nil) },
                deadline: Date? = nil,
                completion: @escaping @Sendable (Result<GenerationOutput, ServiceError>) -> Void) {
        self.init(ids: ids, parameters: parameters, resolve: {
            switch resolveAdapter() {
            case .success(let adapter): .ready(adapter)
            case .failure(let error): .failed(error)
            }
        }, deadline: deadline, completion: completion)
    }
}

/// The adapter a request runs with, captured at admission and kept until it finishes.
public struct ResolvedAdapter: Sendable {
    public let name: String
    public let kind: String
    public let sha256: String
    public let weights: AdapterWeights
    public init(name: String, kind: String, sha256: String, weights: AdapterWeights) {
        self.name = name; self.kind = kind; self.sha256 = sha256; self.weights = weights
    }
}

public struct GenerationOutput: Sendable {
    public let tokens: [Int32]
    public let adapter: ResolvedAdapter?
    public let queueSeconds: Double
    public let generationSeconds: Double
    /// From submission to the end of the first decoder step (the first token); nil if none ran.
    public let firstTokenSeconds: Double?
    /// Between the ends of consecutive decoder steps of this generation (one per later token).
    public let tokenGapSeconds: [Double]
}

/// Counters the metrics endpoint (and tests) read.
public struct EngineStats: Sendable {
    public var queueDepth = 0
    /// Generations holding a batch slot: decoding, or admitted and in (or waiting for) the encoder.
    public var activeSequences = 0
    public var lastBatchSize = 0
    /// Generations waiting for the loader thread to bring their adapter back from disk.
    public var waitingForAdapters = 0
    /// Generations stopped by `cancel` (client gone) and the tokens they had produced.
    public var cancelled = 0
    public var cancelledTokens = 0
}

/// Runs the model on one dedicated thread (never libmicrohttpd's threads or Swift's cooperative
/// pool) with continuous batching: each loop applies cancellations, admits waiting requests,
/// runs a slice of the current admission group's encoder (layer by layer, see `Prefill`), then
/// advances every active request by one decoder step in a single shared batch. Evicted adapters
/// are read back on a separate loader thread, so a disk read and SHA-256 never stall the
/// requests being decoded.
public final class InferenceEngine: @unchecked Sendable {
    public let model: T5ForConditionalGeneration
    public let maxBatch: Int
    public let maxQueue: Int
    private let condition = NSCondition()
    private var queue: [(task: EngineTask, enqueued: Date)] = []
    /// Cancellations jump the queue: they are applied at the start of the next loop.
    private var cancellations: Set<GenerationID> = []
    private var nextID: UInt64 = 0
    private var accepting = true
    private var stopped = false
    private var thread: Thread?
    private var idle = true
    private var stats = EngineStats()
    private let loader = AdapterLoader()
    /// Reads an evicted adapter back (on the loader thread). Set by the service.
    public var loadAdapter: (@Sendable (String) -> Result<Void, ServiceError>)? {
        get { loader.load }
        set { loader.load = newValue }
    }
    /// Applies a state change (on the engine thread). Set by the service.
    public var applyChange: (@Sendable (StateChange) -> Result<Void, ServiceError>)?
    /// Called on the engine thread after every decoder step with the step's batch size.
    public var onBatch: (@Sendable (Int) -> Void)?
    /// Called on the engine thread (no lock held) after each encoder layer, finished admission
    /// group and decoder step: the schedule in order. Must return at once.
    public var onEvent: (@Sendable (EngineEvent) -> Void)?

    public init(model: T5ForConditionalGeneration, maxBatch: Int = 16, maxQueue: Int = 256, blasThreads: Int? = nil) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.maxQueue = max(1, maxQueue)
        WorkerPool.workers = max(1, blasThreads ?? ProcessInfo.processInfo.activeProcessorCount)
        BLAS.setThreads(1)
        Allocation.keepFreedBuffers()
    }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "adapter-serve-engine"
        t.stackSize = 8 << 20
        thread = t
        t.start()
        loader.start()
    }

    /// Queues a generation; fails at once with 503 when the queue is full or draining.
    @discardableResult
    public func submit(_ job: GenerationJob) throws(ServiceError) -> GenerationID {
        condition.lock(); defer { condition.unlock() }
        guard accepting else { throw ServiceError(.unavailable, "draining", "the server is shutting down", retryAfterSeconds: 5) }
        let waiting = queue.filter { if case .generate = $0.task { true } else { false } }.count
        guard waiting < maxQueue else {
            throw ServiceError(.unavailable, "queue_full", "the request queue is full (\(maxQueue) waiting); retry shortly", retryAfterSeconds: 1)
        }
        nextID += 1
        let id = GenerationID(value: nextID)
        queue.append((.generate(id, job), Date()))
        condition.signal()
        return id
    }

    /// Stops a generation wherever it is (queued, waiting for its adapter, or decoding) before
    /// the next decoder step; its completion gets a `cancelled` error. Unknown or finished IDs
    /// are ignored.
    public func cancel(_ id: GenerationID) {
        condition.lock()
        cancellations.insert(id)
        condition.signal()
        condition.unlock()
    }

    /// Applies `change` on the engine thread after all work queued before it has been admitted,
    /// and waits for it.
    public func apply(_ change: StateChange) throws(ServiceError) {
        let box = ResultBox<Void>()
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw ServiceError(.unavailable, "draining", "the server is shutting down", retryAfterSeconds: 5)
        }
        queue.append((.change(change, { box.set($0.mapError { $0 as Error }) }), Date()))
        condition.signal()
        condition.unlock()
        do { try box.wait().get() } catch { throw error as? ServiceError ?? ServiceError(.internalFailure, "internal", "\(error)") }
    }

    /// Runs `body` on the engine thread between decoder steps, after all work queued before it
    /// has been admitted, and waits for it. For tests and tools that must hold the engine.
    public func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw ServiceError(.unavailable, "draining", "the server is shutting down", retryAfterSeconds: 5)
        }
        queue.append((.call({ box.set(Result { try body() }) }), Date()))
        condition.signal()
        condition.unlock()
        return try box.wait().get()
    }

    /// Blocking convenience for tools and tests.
    public func generate(_ job: GenerationJob) -> Result<GenerationOutput, ServiceError> {
        let box = ResultBox<GenerationOutput>()
        var j = job
        let user = job.completion
        j.completion = { result in user(result); box.set(result.mapError { $0 as Error }) }
        do { try submit(j) } catch { return .failure(error) }
        return box.wait().mapError { $0 as? ServiceError ?? ServiceError(.internalFailure, "internal", "\($0)") }
    }

    public var currentStats: EngineStats {
        condition.lock(); defer { condition.unlock() }
        var s = stats
        s.queueDepth = queue.count
        return s
    }

    /// Stops admitting new work; returns once everything queued or in flight has finished.
    public func drain() {
        condition.lock()
        accepting = false
        while !(queue.isEmpty && idle) { condition.wait() }
        stopped = true
        condition.broadcast()
        condition.unlock()
        loader.stop()
    }

    private func enqueue(_ task: EngineTask, front: Bool = false) {
        condition.lock()
        if front { queue.insert((task, Date()), at: 0) } else { queue.append((task, Date())) }
        condition.signal()
        condition.unlock()
    }

    private struct Active {
        let id: GenerationID
        let job: GenerationJob
        let task: GenerationTask
        let adapter: ResolvedAdapter?
        let enqueued: Date
        let started: Date
        let clock = StepClock()
    }

    /// When each decoder step of one generation ended (a class, so the active list's entries
    /// need no rewriting each step). One Date and one subtraction per step.
    private final class StepClock {
        var firstToken: Double?
        var last: Date?
        var gaps: [Double] = []
        func tick(_ now: Date, enqueued: Date) {
            if let last { gaps.append(now.timeIntervalSince(last)) } else { firstToken = now.timeIntervalSince(enqueued) }
            last = now
        }
    }

    /// A generation parked until the loader has read its adapters.
    private struct Parked {
        let id: GenerationID
        var job: GenerationJob
        let enqueued: Date
        var missing: Set<String>
    }

    /// Encoder rows per admission group: one typical 256-token dialogue, which keeps each
    /// product large enough for the GEMM backends to run at full speed.
    static let encoderGroupRows = 256
    /// Encoder rows per admission group while no request is decoding: there is nobody to keep
    /// responsive, so requests that arrived together encode as one packed batch and then decode
    /// together. (Eight 256-token dialogues in 256-row groups took eight groups, and each later
    /// group cost the requests already decoding about 14 steps at a smaller batch: 8 x 256 -> 64
    /// tokens ran 1.35 s instead of 0.8 s.)
    static let idleEncoderGroupRows = 4096
    /// Encoder work run between two decoder steps, in packed rows times layers: about what one
    /// decoder step costs, so a running request's gap between tokens grows by at most about one
    /// step (plus one layer of a very long prompt) while a prefill is in progress. A 500-token
    /// prompt advances one layer per step; a 60-token one finishes in about three steps.
    public static let defaultPrefillRowLayersPerStep = 256
    /// Set before `start`; `Int.max` encodes every admission whole before the next decoder step.
    public var prefillRowLayersPerStep = InferenceEngine.defaultPrefillRowLayersPerStep

    private static func cancelledError() -> ServiceError {
        ServiceError(.cancelled, "cancelled", "the client closed the connection before the summary was ready")
    }

    /// Whether a cancellation is waiting (read between encoder layers, which then yield to it).
    private var cancellationPending: Bool {
        condition.lock(); defer { condition.unlock() }
        return !cancellations.isEmpty
    }

    /// Each loop: apply cancellations, take queued work, run one slice of the current admission
    /// group's encoder (a few layers, or its cross-attention caches), then one decoder step for
    /// every running generation. A long prefill is thus spread over many decoder steps instead
    /// of freezing them, and cancellations land between its layers.
    private func run() {
        var active: [Active] = []
        var parked: [Parked] = []
        var admitted: [Admitted] = []   // adapter resolved, waiting for the encoder
        var prefill: Prefill?           // the group in the encoder
        /// Generations in the engine past the queue: admitted, encoding or decoding.
        func inEngine() -> Int { active.count + admitted.count + (prefill?.members.count ?? 0) }
        while true {
            condition.lock()
            while queue.isEmpty && active.isEmpty && cancellations.isEmpty && admitted.isEmpty && prefill == nil && !stopped {
                idle = parked.isEmpty
                condition.broadcast()
                condition.wait()
            }
            if stopped && queue.isEmpty && active.isEmpty && admitted.isEmpty && prefill == nil { condition.unlock(); return }
            idle = false
            // Cancellations first, wherever the generation is.
            let cancelled = cancellations
            cancellations = []
            var dropped: [(GenerationJob, Int)] = []
            if !cancelled.isEmpty {
                queue.removeAll { item in
                    guard case .generate(let id, let job) = item.task, cancelled.contains(id) else { return false }
                    dropped.append((job, 0))
                    return true
                }
            }
            // Take work in order, up to the batch limit: state changes run when reached, so
            // requests queued before an activation use the old route and those after it the new.
            var taken: [(task: EngineTask, enqueued: Date)] = []
            var admitting = inEngine()
            while let first = queue.first {
                if case .generate = first.task {
                    guard admitting < maxBatch else { break }
                    admitting += 1
                }
                taken.append(queue.removeFirst())
            }
            condition.unlock()

            if !cancelled.isEmpty {
                parked.removeAll { p in
                    guard cancelled.contains(p.id) else { return false }
                    dropped.append((p.job, 0))
                    return true
                }
                admitted.removeAll { a in
                    guard cancelled.contains(a.id) else { return false }
                    dropped.append((a.job, 0))
                    return true
                }
                if let p = prefill {
                    dropped += p.remove(cancelled).map { ($0.job, 0) }
                    if p.members.isEmpty { prefill = nil }
                }
                active.removeAll { a in
                    guard cancelled.contains(a.id) else { return false }
                    dropped.append((a.job, a.task.generatedCount))
                    return true
                }
                for (job, _) in dropped { job.completion(.failure(Self.cancelledError())) }
                condition.lock()
                stats.cancelled += dropped.count
                stats.cancelledTokens += dropped.reduce(0) { $0 + $1.1 }
                // In the same update, so no reader sees a generation counted as cancelled and
                // still as active (the count was refreshed only after the next step).
                stats.activeSequences = inEngine()
                condition.unlock()
            }

            func admit(_ id: GenerationID, _ job: GenerationJob, enqueued: Date) {
                if let deadline = job.deadline, Date() > deadline {
                    job.completion(.failure(ServiceError(.unavailable, "timeout", "the request waited in the queue past its timeout", retryAfterSeconds: 1)))
                    return
                }
                switch job.resolve() {
                case .failed(let e): job.completion(.failure(e))
                case .ready(let adapter): admitted.append(Admitted(id: id, job: job, adapter: adapter, enqueued: enqueued))
                case .needsLoading(let names, let then):
                    var retry = job
                    retry.resolve = then
                    parked.append(Parked(id: id, job: retry, enqueued: enqueued, missing: Set(names)))
                    for name in names { loader.request(name) { [self] result in enqueue(.adapterLoaded(name, result), front: true) } }
                }
            }
            for item in taken {
                switch item.task {
                case .change(let change, let done):
                    done(applyChange?(change) ?? .failure(ServiceError(.internalFailure, "internal", "the engine has no state handler")))
                case .call(let body):
                    body()
                case .generate(let id, let job):
                    admit(id, job, enqueued: item.enqueued)
                case .adapterLoaded(let name, let result):
                    var ready: [Parked] = []
                    parked.removeAll { p in
                        guard p.missing.contains(name) else { return false }
                        ready.append(p)
                        return true
                    }
                    for var p in ready {
                        if case .failure(let error) = result {
                            p.job.completion(.failure(error))
                            continue
                        }
                        p.missing.remove(name)
                        if p.missing.isEmpty { admit(p.id, p.job, enqueued: p.enqueued) } else { parked.append(p) }
                    }
                }
            }
            // One slice of prefill: encoder layers of the current group up to the budget (at least
            // one stage), stopping early when a cancellation arrives so it lands before the next layer.
            if prefill == nil && !admitted.isEmpty {
                prefill = Prefill(taking: &admitted, rows: active.isEmpty ? Self.idleEncoderGroupRows : Self.encoderGroupRows,
                                  model: model)
            }
            var spent = 0
            while let p = prefill, spent < prefillRowLayersPerStep {
                if !p.pass.isEncoderDone {
                    p.pass.runNextLayer()
                    spent += p.pass.rows
                    onEvent?(.encoderLayer(layer: p.pass.layersDone, of: p.pass.layerCount, generations: p.ids))
                } else {
                    let encoded = p.pass.finish()
                    for (e, m) in zip(encoded, p.members) {
                        active.append(Active(id: m.id, job: m.job, task: GenerationTask(encoded: e, model: model, parameters: m.job.parameters),
                                             adapter: m.adapter, enqueued: m.enqueued, started: p.started))
                    }
                    onEvent?(.encoded(p.ids))
                    prefill = nil
                    if !admitted.isEmpty && !cancellationPending {
                        prefill = Prefill(taking: &admitted, rows: Self.encoderGroupRows, model: model)
                    }
                    spent += 2 * p.pass.rows   // the cross-attention caches cost about two layers
                }
                if cancellationPending { break }
            }
            condition.lock()
            stats.waitingForAdapters = parked.count
            stats.activeSequences = inEngine()
            condition.unlock()
            guard !active.isEmpty else { continue }
            let tasks = active.map(\.task)
            let batch = tasks.reduce(0) { $0 + $1.pending.count }
            model.step(tasks)
            onBatch?(batch)
            if let onEvent { onEvent(.decoderStep(active.map(\.id))) }
            let now = Date()
            for a in active {
                a.clock.tick(now, enqueued: a.enqueued)
                if let onTokens = a.job.onTokens, let token = a.task.newestToken { onTokens([token], a.adapter) }
            }
            active.removeAll { a in
                if a.task.nonFiniteLogits {
                    a.job.completion(.failure(ServiceError(.unprocessable, "non_finite_logits", "generation stopped: the model produced NaN or infinite logits\(a.adapter.map { " with adapter '\($0.name)'" } ?? ""); the adapter's weights or scale drive activations past Float32")))
                    return true
                }
                if a.task.isFinished {
                    if a.task.parameters.numBeams > 1, let onTokens = a.job.onTokens { onTokens(a.task.output, a.adapter) }
                    a.job.completion(.success(GenerationOutput(tokens: a.task.output, adapter: a.adapter,
                                                               queueSeconds: a.started.timeIntervalSince(a.enqueued),
                                                               generationSeconds: now.timeIntervalSince(a.started),
                                                               firstTokenSeconds: a.clock.firstToken, tokenGapSeconds: a.clock.gaps)))
                    return true
                }
                if let deadline = a.job.deadline, now > deadline {
                    a.job.completion(.failure(ServiceError(.timeout, "timeout", "generation did not finish within the request timeout")))
                    return true
                }
                return false
            }
            condition.lock()
            stats.activeSequences = inEngine()
            stats.lastBatchSize = batch
            condition.unlock()
        }
    }
}

/// One thread that reads evicted adapters back from disk (parse, checks, SHA-256), one at a
/// time, so the engine thread only ever installs finished results.
final class AdapterLoader: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [(name: String, done: [@Sendable (Result<Void, ServiceError>) -> Void])] = []
    private var stopping = false
    var load: (@Sendable (String) -> Result<Void, ServiceError>)?

    func start() {
        let t = Thread { [self] in run() }
        t.name = "adapter-serve-loader"
        t.start()
    }

    /// Asks for `name`; a request for a name already pending shares its read.
    func request(_ name: String, done: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        condition.lock()
        if let i = pending.firstIndex(where: { $0.name == name }) { pending[i].done.append(done) } else { pending.append((name, [done])) }
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock(); stopping = true; condition.broadcast(); condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if stopping && pending.isEmpty { condition.unlock(); return }
            let name = pending[0].name
            condition.unlock()
            let result = load?(name) ?? .failure(ServiceError(.internalFailure, "internal", "no adapter loader"))
            condition.lock()
            let done = pending.removeFirst().done
            condition.unlock()
            for d in done { d(result) }
        }
    }
}

/// A one-shot result handed from the engine thread to a waiting caller.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, Error>?

    func set(_ r: Result<T, Error>) {
        condition.lock(); result = r; condition.signal(); condition.unlock()
    }

    func wait() -> Result<T, Error> {
        condition.lock(); defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}

extension InferenceEngine {
    /// Submits every request at once (so they decode as one continuous batch) and waits for all.
    /// For tools (eval, bench); the HTTP path submits one job per connection instead.
    public func generateAll(_ requests: [(ids: [Int32], adapter: ResolvedAdapter?)],
                            parameters: GenerationParameters) throws(ServiceError) -> [GenerationOutput] {
        let results = ResultSlots<GenerationOutput>(count: requests.count)
        let group = DispatchGroup()
        for (i, r) in requests.enumerated() {
            group.enter()
            let adapter = r.adapter
            let job = GenerationJob(ids: r.ids, parameters: parameters, resolveAdapter: { .success(adapter) }) { result in
                results.set(i, result)
                group.leave()
            }
            do { try submit(job) } catch {
                results.set(i, .failure(error))
                group.leave()
            }
        }
        group.wait()
        return try results.values.map { r throws(ServiceError) in try r!.get() }
    }
}

/// Results filled in from several threads, read after all have finished (the engine's batch
/// helpers and the OpenAI endpoint's `n` choices).
public final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, ServiceError>?]
    public init(count: Int) { slots = Array(repeating: nil, count: count) }
    public func set(_ i: Int, _ r: Result<T, ServiceError>) { lock.lock(); slots[i] = r; lock.unlock() }
    public var values: [Result<T, ServiceError>?] { lock.lock(); defer { lock.unlock() }; return slots }
}
