import Foundation
import Testing
@testable import Numerics

/// WorkerPool's contract, whatever path a call takes (the persistent pool, GCD when another
/// thread holds the pool, serial inside a chunk): every index exactly once, in the chunks the
/// old concurrentPerform split made (so products stay bit-identical), and no return before
/// every chunk is done. The worker count is passed explicitly, so the shared
/// `WorkerPool.workers` other suites run with is never changed here.
@Suite struct WorkerPoolTests {
    /// The chunks as the GCD split computed them: `w` contiguous ranges of a grain-aligned size.
    static func expectedChunks(_ count: Int, grain: Int, minimumPerWorker: Int, workers: Int) -> [Range<Int>] {
        let w = min(workers, max(1, count / max(minimumPerWorker, 1)))
        if w <= 1 { return [0..<count] }
        let size = ((count + w - 1) / w + grain - 1) / grain * grain
        return (0..<w).map { min($0 * size, count)..<min(($0 + 1) * size, count) }.filter { !$0.isEmpty }
    }

    /// Runs one split, recording each index's visits and the ranges the body saw.
    static func run(_ count: Int, grain: Int, minimumPerWorker: Int, workers: Int)
        -> (visits: [Int], ranges: [Range<Int>], path: WorkerPool.Path) {
        let visits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
        visits.initialize(repeating: 0)
        defer { visits.deallocate() }
        let lock = NSLock()
        nonisolated(unsafe) var ranges: [Range<Int>] = []
        let path = WorkerPool.parallelFor(count, grain: grain, minimumPerWorker: minimumPerWorker, workers: workers) { r in
            for i in r { visits[i] += 1 }  // disjoint chunks: no two threads touch one index
            lock.lock(); ranges.append(r); lock.unlock()
        }
        return (Array(visits.prefix(count)), ranges.sorted { $0.lowerBound < $1.lowerBound }, path)
    }

    @Test("every index exactly once, in the grain-aligned chunks of the old split")
    func coversEveryIndexOnce() {
        for count in [0, 1, 2, 3, 7, 31, 64, 65, 100, 257, 1000, 4099] {
            for grain in [1, 3, 4, 8, 16, 64] {
                for minimumPerWorker in [0, 1, 8, 64] {
                    for workers in [1, 2, 3, 4, 7, 16] {
                        let (visits, ranges, _) = Self.run(count, grain: grain, minimumPerWorker: minimumPerWorker, workers: workers)
                        let expected = Self.expectedChunks(count, grain: grain, minimumPerWorker: minimumPerWorker, workers: workers)
                        let label = "count \(count) grain \(grain) min \(minimumPerWorker) workers \(workers)"
                        #expect(visits.allSatisfy { $0 == 1 }, "\(label)")
                        #expect(ranges == expected, "\(label)")
                        #expect(ranges.dropFirst().allSatisfy { $0.lowerBound % grain == 0 }, "\(label)")
                    }
                }
            }
        }
    }

    @Test("more chunks than the pool has threads: the caller and the threads there take the rest")
    func moreChunksThanThreads() {
        let (visits, ranges, _) = Self.run(600, grain: 1, minimumPerWorker: 1, workers: 300)
        #expect(visits.allSatisfy { $0 == 1 })
        #expect(ranges.count == 300)
    }

    @Test("one worker runs the whole range on the calling thread")
    func oneWorkerRunsOnCaller() {
        let caller = pthread_self()
        nonisolated(unsafe) var ranThere = false, ranges: [Range<Int>] = []
        let path = WorkerPool.parallelFor(1000, grain: 8, minimumPerWorker: 1, workers: 1) { r in
            ranThere = pthread_equal(pthread_self(), caller) != 0
            ranges.append(r)
        }
        #expect(path == .serial && ranThere && ranges == [0..<1000])
    }

    @Test("on the pool, the caller runs the first chunk itself")
    func callerRunsAChunk() {
        let caller = pthread_self()
        let lock = NSLock()
        nonisolated(unsafe) var callerRanges: [Range<Int>] = []
        let path = WorkerPool.parallelFor(64, grain: 1, minimumPerWorker: 1, workers: 4) { r in
            if pthread_equal(pthread_self(), caller) != 0 { lock.lock(); callerRanges.append(r); lock.unlock() }
        }
        // GCD (taken when another suite's thread holds the pool) lets any thread run any chunk.
        if path == .pool { #expect(callerRanges.contains(0..<16)) }
        #expect(path == .pool || path == .gcd)
    }

    @Test("several threads splitting at once each get their own exact sums")
    func concurrentCallers() {
        let threads = 6, rounds = 150, count = 513
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads * rounds)
        results.initialize(repeating: -1)
        defer { results.deallocate() }
        let finished = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            let thread = Thread {
                for round in 0..<rounds {
                    // Each chunk writes the sum of its indices (times a per-call factor) into
                    // its own slot; a chunk run twice, skipped or mixed with another call's job
                    // shows in the total.
                    let factor = t * rounds + round + 1, workers = 2 + (t + round) % 3
                    let partial = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
                    partial.initialize(repeating: 0)
                    WorkerPool.parallelFor(count, grain: 4, minimumPerWorker: 16, workers: workers) { r in
                        for i in r { partial[i] += i * factor }
                    }
                    results[t * rounds + round] = partial.reduce(0, +)
                    partial.deallocate()
                }
                finished.signal()
            }
            thread.start()
        }
        for _ in 0..<threads { finished.wait() }
        let sum = count * (count - 1) / 2
        for t in 0..<threads {
            for round in 0..<rounds { #expect(results[t * rounds + round] == sum * (t * rounds + round + 1)) }
        }
    }

    @Test("a chunk that splits again completes, serially on its own thread when on the pool")
    func nestedSplitCompletes() {
        let outer = 8, inner = 300
        let visits = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer * inner)
        visits.initialize(repeating: 0)
        defer { visits.deallocate() }
        let lock = NSLock()
        nonisolated(unsafe) var innerPaths: [WorkerPool.Path] = []
        let path = WorkerPool.parallelFor(outer, grain: 1, minimumPerWorker: 1, workers: 4) { rows in
            for row in rows {
                let p = WorkerPool.parallelFor(inner, grain: 4, minimumPerWorker: 8, workers: 4) { cols in
                    for c in cols { visits[row * inner + c] += 1 }
                }
                lock.lock(); innerPaths.append(p); lock.unlock()
            }
        }
        #expect(visits.allSatisfy { $0 == 1 })
        #expect(innerPaths.count == outer)
        if path == .pool { #expect(innerPaths.allSatisfy { $0 == .nested }) }
    }

    @Test("the pool keeps its threads as the worker count grows and shrinks")
    func workerCountChanges() {
        for workers in [2, 9, 3, 1, 12, 2] {
            let (visits, ranges, path) = Self.run(4096, grain: 16, minimumPerWorker: 64, workers: workers)
            #expect(visits.allSatisfy { $0 == 1 })
            #expect(ranges.count == workers)
            if path == .pool { #expect(WorkerPool.poolThreads >= workers - 1) }
        }
    }
}
