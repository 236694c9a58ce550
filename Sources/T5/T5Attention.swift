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

    /// One sequence, all heads: ctx (tq, inner) = softmax(q k^T + bias) v; scores has room for (tq, tk).
    /// q, keys and values are rows of stride `ld` (the fused (rows, 3·inner) product: `ld` =
    /// 3·inner), inner columns each; bias is (heads, tq, tk) or nil; ctx rows have stride inner.
    func attend(q: UnsafePointer<Float>, tq: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, ld: Int,
                tk: Int, bias: UnsafePointer<Float>?, ctx: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let s = scores   // (tq, tk) for one head
        for h in 0..<heads {
            let off = h * dKV
            BLAS.gemm(m: tq, n: tk, k: dKV, a: q + off, lda: ld, b: keys + off, ldb: ld,
                      transposeB: true, c: s, ldc: tk)
            if let bias { Kernels.add(bias + h * tq * tk, into: s, count: tq * tk) }
            WorkerPool.parallelFor(tq, grain: 1, minimumPerWorker: max(1, 8192 / max(tk, 1))) { rows in
                for i in rows { Kernels.softmaxVector(s + i * tk, count: tk) }
            }
            BLAS.gemm(m: tq, n: dKV, k: tk, a: s, lda: tk, b: values + off, ldb: ld,
                      transposeB: false, c: ctx + off, ldc: inner)
        }
    }
}
