import Foundation
import Numerics

/// The activation buffers of one forward pass (encoder or decoder step), allocated once for a
/// batch shape and reused on every layer and every step, as llama2.c's RunState: a step touches
/// memory that is already mapped and warm instead of allocating, page-faulting and zeroing fresh
/// arrays per call. (An encoder head's (L, L) attention scores live in each worker's Scratch
/// buffer instead: heads run on several workers at once.) Capacity only grows (to the largest row count seen), so a steady decoding
/// batch allocates nothing. Contents are scratch: every user writes before it reads.
final class RunState: @unchecked Sendable {
    let dModel: Int, inner: Int, dFF: Int
    private(set) var capacity = 0   // rows every buffer below has room for
    private(set) var hidden: UnsafeMutablePointer<Float>   // (rows, d_model) the residual stream (decoder steps)
    private(set) var normed: UnsafeMutablePointer<Float>   // (rows, d_model) a layer norm's output
    private(set) var out: UnsafeMutablePointer<Float>      // (rows, d_model) a sub-layer's output before the residual add
    private(set) var qkv: UnsafeMutablePointer<Float>      // (rows, 3 * inner) fused q | k | v; cross: q in the first inner
    private(set) var ctx: UnsafeMutablePointer<Float>      // (rows, inner) attention output
    private(set) var ff: UnsafeMutablePointer<Float>       // (rows, 2 * d_ff) fused wi_0 | wi_1 (ungated: wi in the first d_ff)
    private(set) var gated: UnsafeMutablePointer<Float>    // (rows, d_ff) act(wi_0 x) * wi_1 x, wo's input

    init(config c: T5Config) {
        dModel = c.dModel; inner = c.innerDim; dFF = c.dFF
        hidden = .allocate(capacity: 0); normed = .allocate(capacity: 0); out = .allocate(capacity: 0)
        qkv = .allocate(capacity: 0); ctx = .allocate(capacity: 0); ff = .allocate(capacity: 0); gated = .allocate(capacity: 0)
    }

    deinit { release() }

    private func release() {
        for p in [hidden, normed, out, qkv, ctx, ff, gated] { p.deallocate() }
    }

    /// Makes room for `rows` rows (reallocating only when the shape grows).
    func reserve(rows: Int) {
        guard rows > capacity else { return }
        release()
        hidden = .allocate(capacity: rows * dModel)
        normed = .allocate(capacity: rows * dModel)
        out = .allocate(capacity: rows * dModel)
        qkv = .allocate(capacity: rows * 3 * inner)
        ctx = .allocate(capacity: rows * inner)
        ff = .allocate(capacity: rows * 2 * dFF)
        gated = .allocate(capacity: rows * dFF)
        capacity = rows
    }
}

/// The model's RunStates: an encoder pass and a decoder step may run at once on different
/// threads, so each takes one of its own and gives it back; in steady decoding the same state
/// serves every step.
final class RunStatePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [RunState] = []
    private let config: T5Config

    init(config: T5Config) { self.config = config }

    /// The row capacities of the states not in use (tests).
    var idleCapacities: [Int] {
        lock.lock(); defer { lock.unlock() }
        return free.map(\.capacity)
    }

    /// Runs body with a state that has room for `rows` rows.
    func with<R>(rows: Int, _ body: (RunState) -> R) -> R {
        lock.lock()
        // The largest free state: the one least likely to need growing.
        let index = free.indices.max { free[$0].capacity < free[$1].capacity }
        let state = index.map { free.remove(at: $0) } ?? RunState(config: config)
        lock.unlock()
        state.reserve(rows: rows)
        defer {
            lock.lock()
            free.append(state)
            lock.unlock()
        }
        return body(state)
    }
}
