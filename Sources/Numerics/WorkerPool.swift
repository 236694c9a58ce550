import CKernels
import Foundation

/// Splits a loop over the machine's cores. The decode step's products are memory-bound: both
/// cores streaming different weight rows is what reaches the machine's bandwidth.
///
/// A decode step runs ~100+ products back to back, so the split itself must cost well under a
/// microsecond: `DispatchQueue.concurrentPerform` woke GCD workers through the kernel scheduler
/// for every product (~13-15% of a step's CPU on Linux). The split now runs on CKernels' pool
/// (ck_pool.h): engine-owned threads, not Swift's cooperative pool, that spin briefly on an
/// atomic generation counter between products and then park. OpenBLAS (set to 1 thread by the
/// engine, see `BLAS`) and oneDNN (its OpenMP team set to 1 per call, see `OneDNN`) run inside
/// our chunks on the calling thread, so theirs never spin beside ours on the same cores.
///
/// The pool serves one caller at a time; a second thread splitting at the same moment (another
/// engine in the same process) takes the GCD path, and a chunk that splits again (nested) runs
/// its chunks serially on its own thread. `ADAPTER_SERVE_POOL=gcd` selects the GCD path for
/// every call (to compare the two); `ADAPTER_SERVE_POOL_SPIN_US` (default 50, 0 parks at once)
/// and `ADAPTER_SERVE_POOL_PAUSE_US` (default 5; the rest of the spin is sched_yield) tune it.
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

    /// Which way one split ran (which one a call takes depends on what other threads are doing
    /// at that moment, so tests check the chunks, and the path only where it is certain).
    public enum Path: Sendable { case serial, pool, gcd, nested }

    /// Runs body(range) over `count` items in `workers` contiguous chunks (aligned to `grain`).
    @inlinable
    public static func parallelFor(_ count: Int, grain: Int = 8, minimumPerWorker: Int = 64,
                                   _ body: (Range<Int>) -> Void) {
        parallelFor(count, grain: grain, minimumPerWorker: minimumPerWorker, workers: workers, body)
    }

    /// parallelFor with the worker count given (tests vary it without touching the shared one).
    @inlinable @discardableResult
    static func parallelFor(_ count: Int, grain: Int, minimumPerWorker: Int, workers: Int,
                            _ body: (Range<Int>) -> Void) -> Path {
        let w = min(workers, max(1, count / max(minimumPerWorker, 1)))
        if w <= 1 { body(0..<count); return .serial }
        let chunk = ((count + w - 1) / w + grain - 1) / grain * grain
        return split(count, chunks: w, chunk: chunk, body)
    }

    /// Runs body over chunks [i * chunk, (i + 1) * chunk) ∩ [0, count) for i < chunks, on the
    /// pool, or on GCD when the pool is busy or `ADAPTER_SERVE_POOL=gcd`, or serially when called
    /// from inside a chunk. Returns the path taken. Every path gives the same chunks.
    @usableFromInline @discardableResult
    static func split(_ count: Int, chunks: Int, chunk: Int, _ body: (Range<Int>) -> Void) -> Path {
        // The chunks are disjoint and the call returns only when all are done, so sharing
        // the (non-Sendable) body across the threads is safe.
        withoutActuallyEscaping(body) { body in
            var job = ChunkJob(body: body, count: count, chunk: chunk)
            if !useGCD {
                let status = withUnsafeMutablePointer(to: &job) { ck_pool_run(chunks, runChunk, $0) }
                if status == CK_POOL_DONE { return .pool }
                if status == CK_POOL_NESTED {
                    for i in 0..<chunks { job.run(i) }
                    return .nested
                }
            }
            nonisolated(unsafe) let shared = job
            DispatchQueue.concurrentPerform(iterations: chunks) { shared.run($0) }
            return .gcd
        }
    }

    /// `ADAPTER_SERVE_POOL=gcd`: the old per-product `concurrentPerform` (read once).
    @usableFromInline static let useGCD = ProcessInfo.processInfo.environment["ADAPTER_SERVE_POOL"] == "gcd"

    /// Pool threads created so far (they are kept for the process's life).
    public static var poolThreads: Int { ck_pool_threads() }
}

/// One parallelFor call as the pool's C threads see it, through a context pointer.
struct ChunkJob {
    let body: (Range<Int>) -> Void
    let count: Int
    let chunk: Int

    func run(_ i: Int) {
        let start = min(i * chunk, count), end = min(start + chunk, count)
        if start < end { body(start..<end) }
    }
}

/// The pool's entry into Swift: runs chunk `index` of the ChunkJob at `context`.
private func runChunk(_ context: UnsafeMutableRawPointer?, _ index: Int) {
    context.unsafelyUnwrapped.assumingMemoryBound(to: ChunkJob.self).pointee.run(index)
}
