import Foundation
import Numerics
import T5

/// Work for the engine thread: a generation, or a state change that must be ordered with
/// generations (adapter activation and replacement), as in llama.cpp's server.
enum EngineWork {
    case generate(GenerationJob)
    case control(@Sendable () -> Void)
}

/// A request to generate, with everything resolved except the adapter route, which is
/// resolved when the engine admits it, in queue order with state changes.
public struct GenerationJob: Sendable {
    public var ids: [Int32]
    public var parameters: GenerationParameters
    /// Runs on the engine thread at admission: returns the adapter weights to use (or nil for the
    /// base model) plus a label for reporting, or an error that fails the job.
    public var resolveAdapter: @Sendable () -> Result<ResolvedAdapter?, ServiceError>
    public var deadline: Date?
    public var completion: @Sendable (Result<GenerationOutput, ServiceError>) -> Void

    public init(ids: [Int32], parameters: GenerationParameters,
                resolveAdapter: @escaping @Sendable () -> Result<ResolvedAdapter?, ServiceError> = { .success(nil) },
                deadline: Date? = nil,
                completion: @escaping @Sendable (Result<GenerationOutput, ServiceError>) -> Void) {
        self.ids = ids; self.parameters = parameters; self.resolveAdapter = resolveAdapter
        self.deadline = deadline; self.completion = completion
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
}

/// Counters the metrics endpoint reads.
public struct EngineStats: Sendable {
    public var queueDepth = 0
    public var activeSequences = 0
    public var lastBatchSize = 0
}

/// Runs the model on one dedicated thread (never libmicrohttpd's threads or Swift's cooperative
/// pool) with continuous batching: each loop admits waiting requests, runs their encoders as one
/// batch, then advances every active request by one decoder step in a single shared batch.
public final class InferenceEngine: @unchecked Sendable {
    public let model: T5ForConditionalGeneration
    public let maxBatch: Int
    public let maxQueue: Int
    private let condition = NSCondition()
    private var queue: [(work: EngineWork, enqueued: Date)] = []
    private var accepting = true
    private var stopped = false
    private var thread: Thread?
    private var idle = true
    private var stats = EngineStats()
    /// Called on the engine thread after every decoder step with the step's batch size.
    public var onBatch: (@Sendable (Int) -> Void)?

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
    }

    /// Queues a generation; fails at once with 503 when the queue is full or draining.
    public func submit(_ job: GenerationJob) throws(ServiceError) {
        condition.lock(); defer { condition.unlock() }
        guard accepting else { throw ServiceError(503, "draining", "the server is shutting down", retryAfterSeconds: 5) }
        let waiting = queue.filter { if case .generate = $0.work { true } else { false } }.count
        guard waiting < maxQueue else {
            throw ServiceError(503, "queue_full", "the request queue is full (\(maxQueue) waiting); retry shortly", retryAfterSeconds: 1)
        }
        queue.append((.generate(job), Date()))
        condition.signal()
    }

    /// Runs `body` on the engine thread between decoder steps, after all work queued before it
    /// has been admitted, and waits for it.
    public func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw ServiceError(503, "draining", "the server is shutting down", retryAfterSeconds: 5)
        }
        queue.append((.control({ box.set(Result { try body() }) }), Date()))
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
        return box.wait().mapError { $0 as? ServiceError ?? ServiceError(500, "internal", "\($0)") }
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
    }

    private struct Active {
        let job: GenerationJob
        let task: GenerationTask
        let adapter: ResolvedAdapter?
        let enqueued: Date
        let started: Date
    }

    private func run() {
        var active: [Active] = []
        while true {
            condition.lock()
            while queue.isEmpty && active.isEmpty && !stopped {
                idle = true
                condition.broadcast()
                condition.wait()
            }
            if stopped && queue.isEmpty && active.isEmpty { condition.unlock(); return }
            idle = false
            // Take work in order, up to the batch limit: state changes run when reached, so
            // requests queued before an activation use the old route and those after it the new.
            var taken: [(work: EngineWork, enqueued: Date)] = []
            var admitting = 0
            while let first = queue.first {
                if case .generate = first.work {
                    guard active.count + admitting < maxBatch else { break }
                    admitting += 1
                }
                taken.append(queue.removeFirst())
            }
            condition.unlock()
            var newTasks: [(GenerationJob, ResolvedAdapter?, Date)] = []
            for item in taken {
                switch item.work {
                case .control(let body): body()
                case .generate(let job):
                    if let deadline = job.deadline, Date() > deadline {
                        job.completion(.failure(ServiceError(503, "timeout", "the request waited in the queue past its timeout", retryAfterSeconds: 1)))
                        continue
                    }
                    switch job.resolveAdapter() {
                    case .failure(let e): job.completion(.failure(e))
                    case .success(let adapter): newTasks.append((job, adapter, item.enqueued))
                    }
                }
            }
            if !newTasks.isEmpty {
                let now = Date()
                let encoded = model.encode(newTasks.map { EncoderInput(ids: $0.0.ids, adapter: $0.1?.weights) })
                for (e, t) in zip(encoded, newTasks) {
                    active.append(Active(job: t.0, task: GenerationTask(encoded: e, model: model, parameters: t.0.parameters),
                                         adapter: t.1, enqueued: t.2, started: now))
                }
            }
            guard !active.isEmpty else { continue }
            let tasks = active.map(\.task)
            let batch = tasks.reduce(0) { $0 + $1.pending.count }
            model.step(tasks)
            onBatch?(batch)
            let now = Date()
            active.removeAll { a in
                if a.task.nonFiniteLogits {
                    a.job.completion(.failure(ServiceError(422, "non_finite_logits", "generation stopped: the model produced NaN or infinite logits\(a.adapter.map { " with adapter '\($0.name)'" } ?? ""); the adapter's weights or scale drive activations past Float32")))
                    return true
                }
                if a.task.isFinished {
                    a.job.completion(.success(GenerationOutput(tokens: a.task.output, adapter: a.adapter,
                                                               queueSeconds: a.started.timeIntervalSince(a.enqueued),
                                                               generationSeconds: now.timeIntervalSince(a.started))))
                    return true
                }
                if let deadline = a.job.deadline, now > deadline {
                    a.job.completion(.failure(ServiceError(504, "timeout", "generation did not finish within the request timeout")))
                    return true
                }
                return false
            }
            condition.lock()
            stats.activeSequences = active.count
            stats.lastBatchSize = batch
            condition.unlock()
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

/// Results filled in from several threads.
final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, ServiceError>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, ServiceError>) { lock.lock(); slots[i] = r; lock.unlock() }
    var values: [Result<T, ServiceError>?] { lock.lock(); defer { lock.unlock() }; return slots }
}
