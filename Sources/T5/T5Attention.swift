import Numerics

/// T5Attention: multi-head attention without the 1/sqrt(d) scaling (T5 folds it into the
/// initialisation), with an additive relative position bias owned by the first block.
public struct T5Attention: Sendable {
    /// Self-attention: q, k and v fused into one product (3·inner, d_model), split by columns.
    public let qkv: FusedLinear?
    /// Cross-attention: q (inner, d_model) reads the decoder, k and v (2·inner, d_model) the
    /// encoder output, once per request (`T5ForConditionalGeneration.encode`).
    public let crossQuery: Linear?
    public let crossKeyValue: FusedLinear?
    public let o: Linear   // (d_model, inner)
    /// relative_attention_bias.weight (num_buckets, n_heads); only block 0 has one.
    public let relativeAttentionBias: [Float]?
    public let heads: Int
    public let dKV: Int
    var inner: Int { heads * dKV }

    init(_ ckpt: Checkpoint, _ prefix: String, config c: T5Config, hasRelativeBias: Bool, isCross: Bool = false,
         sites: inout [String]) throws(ModelError) {
        // Sites are taken in the checkpoint's module order q, k, v, o either way.
        if isCross {
            qkv = nil
            crossQuery = try Linear(ckpt, prefix + ".q", out: c.innerDim, in: c.dModel, sites: &sites)
            crossKeyValue = try FusedLinear(ckpt, [prefix + ".k", prefix + ".v"], out: c.innerDim, in: c.dModel, sites: &sites)
        } else {
            qkv = try FusedLinear(ckpt, [prefix + ".q", prefix + ".k", prefix + ".v"], out: c.innerDim, in: c.dModel,
                                  sites: &sites)
            crossQuery = nil
            crossKeyValue = nil
        }
        o = try Linear(ckpt, prefix + ".o", out: c.dModel, in: c.innerDim, sites: &sites)
        relativeAttentionBias = hasRelativeBias
            ? try ckpt.tensor(prefix + ".relative_attention_bias.weight",
                              shape: [c.relativeAttentionNumBuckets, c.numHeads]).storage
            : nil
        heads = c.numHeads
        dKV = c.dKV
    }

    /// Every module (q, k, v, o), in site order.
    public var linears: [Linear] {
        (qkv?.parts ?? []) + [crossQuery].compactMap { $0 } + (crossKeyValue?.parts ?? []) + [o]
    }

    /// A decoder step: query row i of q (rows, qStride; its first inner columns) attends to its own cache, which
    /// `cache(i, body)` hands to body as (keys (tk, inner), values (tk, inner), tk, bias (heads, tk)
    /// or nil); ctx (rows, inner). Rows, and for an odd count halves of the heads, are spread
    /// over the cores.
    func attendEachRow(q: UnsafePointer<Float>, qStride: Int, rows n: Int, ctx: UnsafeMutablePointer<Float>,
                       cache: (Int, (UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafePointer<Float>?) -> Void) -> Void) {
        let groups = n % WorkerPool.workers == 0 ? 1 : min(heads, WorkerPool.workers)
        let perGroup = (heads + groups - 1) / groups
        let inner = inner, heads = heads, dKV = dKV
        WorkerPool.parallelFor(n * groups, grain: 1, minimumPerWorker: 1) { units in
            for u in units {
                let i = u / groups, g = u % groups
                let range = (g * perGroup)..<min(heads, (g + 1) * perGroup)
                cache(i) { keys, values, tk, bias in
                    AttentionKernels.singleQuery(q: q + i * qStride, keys: keys, values: values, tk: tk, heads: heads,
                                                 dKV: dKV, bias: bias, ctx: ctx + i * inner, headRange: range)
                }
            }
        }
    }

    /// The cross-attention step: as above, over the encoder's cached rows of row i's request
    /// (`caches(i)`: keys, values (length, inner) in their cache format), without a bias.
    func attendEachRow(q: UnsafePointer<Float>, qStride: Int, rows n: Int, ctx: UnsafeMutablePointer<Float>,
                       caches: (Int) -> (keys: KVRows, values: KVRows)) {
        let groups = n % WorkerPool.workers == 0 ? 1 : min(heads, WorkerPool.workers)
        let perGroup = (heads + groups - 1) / groups
        let inner = inner, heads = heads
        WorkerPool.parallelFor(n * groups, grain: 1, minimumPerWorker: 1) { units in
            for u in units {
                let i = u / groups, g = u % groups
                let range = (g * perGroup)..<min(heads, (g + 1) * perGroup)
                let (keys, values) = caches(i)
                AttentionKernels.singleQuery(q: q + i * qStride, keys: keys, values: values, bias: nil,
                                             ctx: ctx + i * inner, headRange: range)
            }
        }
    }

    /// Self-attention over a packed batch: sequence s holds rows offsets[s]..<offsets[s+1] of
    /// qkv (rows, 3·inner: q, k, v side by side, row stride `ld`) with its position bias
    /// biases[s] ((heads, L, L), or empty for none); ctx (rows, inner) receives the heads' outputs.
    /// Each (sequence, head) pair is one unit of work that a worker runs whole, on single-threaded
    /// oneDNN sgemm (5-8% faster prefill than OpenBLAS's Haswell kernels here, measured at batch
    /// 8): a head's products (L x L x d_kv) are too small to split between threads without leaving
    /// a core idle at each of their joins, while a batch has sequences x heads units to share.
    func attendPacked(qkv: UnsafePointer<Float>, ld: Int, offsets: [Int], biases: [[Float]],
                      ctx: UnsafeMutablePointer<Float>) {
        let sequences = offsets.count - 1
        guard sequences > 0 else { return }
        let longest = (0..<sequences).map { offsets[$0 + 1] - offsets[$0] }.max()!
        let heads = heads, dKV = dKV, inner = inner
        WorkerPool.parallelFor(sequences * heads, grain: 1, minimumPerWorker: 1) { units in
            Scratch.with(bytes: longest * longest * 4) { raw in
                let scores = raw.bindMemory(to: Float.self, capacity: longest * longest)   // (L, L) of one head
                for u in units {
                    // Head-major, so each worker's contiguous chunk takes its share of every
                    // sequence's heads and sequences of unequal length split evenly.
                    let seq = u % sequences, h = u / sequences
                    let start = offsets[seq], L = offsets[seq + 1] - start
                    guard L > 0 else { continue }
                    let q = qkv + start * ld + h * dKV, keys = q + inner, values = q + 2 * inner
                    OneDNN.sgemmOnThisThread(m: L, n: L, k: dKV, a: q, lda: ld, b: keys, ldb: ld, transposeB: true,
                                             c: scores, ldc: L)
                    biases[seq].withUnsafeBufferPointer { bp in
                        Kernels.softmaxRows(scores, rows: L, count: L, bias: bp.isEmpty ? nil : bp.baseAddress! + h * L * L)
                    }
                    OneDNN.sgemmOnThisThread(m: L, n: dKV, k: L, a: scores, lda: L, b: values, ldb: ld, transposeB: false,
                                             c: ctx + start * inner + h * dKV, ldc: inner)
                }
            }
        }
    }
}
