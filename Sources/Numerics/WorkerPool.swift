import Foundation

/// Splits a loop over the machine's cores. The decode step's products are memory-bound: both
/// cores streaming different weight rows is what reaches the machine's bandwidth.
public enum WorkerPool {
    /// Workers used by `parallelFor`; set at start-up (the engine owns the cores). Behind a lock
    /// because every engine sets it while other engines' threads read it on every product, which
    /// ThreadSanitizer reported as a data race when a test process runs several services at once.
    public static var workers: Int {
        get { workerCount.lock(); defer { workerCount.unlock() }; return workerCountValue }
        set { workerCount.lock(); defer { workerCount.unlock() }; workerCountValue = newValue }
    }
    private static let workerCount = NSLock()
    nonisolated(unsafe) private static var workerCountValue = ProcessInfo.processInfo.activeProcessorCount

    /// Runs body(range) over `count` items in `workers` contiguous chunks (aligned to `grain`).
    @inlinable
    public static func parallelFor(_ count: Int, grain: Int = 8, minimumPerWorker: Int = 64,
                                   _ body: (Range<Int>) -> Void) {
        let w = min(workers, max(1, count / max(minimumPerWorker, 1)))
        if w <= 1 { body(0..<count); return }
        let chunk = ((count + w - 1) / w + grain - 1) / grain * grain
        // The chunks are disjoint and the call returns only when all are done, so sharing
        // the (non-Sendable) body across the workers is safe.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: w) { i in
                let start = min(i * chunk, count), end = min(start + chunk, count)
                if start < end { run(start..<end) }
            }
        }
    }
}
