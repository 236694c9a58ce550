import Numerics

/// T5Attention: multi-head attention without the 1/sqrt(d) scaling (T5 folds it into the
/// initialisation), with an additive relative position bias owned by the first block.
public struct T5Attention: Sendable {
    public let q, k, v, o: Linear   // q,k,v: (inner, d_model); o: (d_model, inner)
    /// relative_attention_bias.weight (num_buckets, n_heads); only block 0 has one.
    public let relativeAttentionBias: [Float]?
    public let heads: Int
    public let dKV: Int
    var inner: Int { heads * dKV }

    init(_ ckpt: Checkpoint, _ prefix: String, config c: T5Config, hasRelativeBias: Bool,
         sites: inout [String]) throws(ModelError) {
        q = try Linear(ckpt, prefix + ".q", out: c.innerDim, in: c.dModel, sites: &sites)
        k = try Linear(ckpt, prefix + ".k", out: c.innerDim, in: c.dModel, sites: &sites)
        v = try Linear(ckpt, prefix + ".v", out: c.innerDim, in: c.dModel, sites: &sites)
        o = try Linear(ckpt, prefix + ".o", out: c.dModel, in: c.innerDim, sites: &sites)
        relativeAttentionBias = hasRelativeBias
            ? try ckpt.tensor(prefix + ".relative_attention_bias.weight",
                              shape: [c.relativeAttentionNumBuckets, c.numHeads]).storage
            : nil
        heads = c.numHeads
        dKV = c.dKV
    }

    /// A decoder step: query row i of q (rows, inner) attends to its own cache, which
    /// `cache(i, body)` hands to body as (keys (tk, inner), values (tk, inner), tk, bias (heads, tk)
    /// or nil); ctx (rows, inner). Rows, and for an odd count halves of the heads, are spread
    /// over the cores.
    func attendEachRow(q: UnsafePointer<Float>, rows n: Int, ctx: UnsafeMutablePointer<Float>,
                       cache: (Int, (UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafePointer<Float>?) -> Void) -> Void) {
        let groups = n % WorkerPool.workers == 0 ? 1 : min(heads, WorkerPool.workers)
        let perGroup = (heads + groups - 1) / groups
        let inner = inner, heads = heads, dKV = dKV
        WorkerPool.parallelFor(n * groups, grain: 1, minimumPerWorker: 1) { units in
            for u in units {
                let i = u / groups, g = u % groups
                let range = (g * perGroup)..<min(heads, (g + 1) * perGroup)
                cache(i) { keys, values, tk, bias in
                    AttentionKernels.singleQuery(q: q + i * inner, keys: keys, values: values, tk: tk, heads: heads,
                                                 dKV: dKV, bias: bias, ctx: ctx + i * inner, headRange: range)
                }
            }
        }
    }

    /// One sequence, all heads: ctx (tq, inner) = softmax(q k^T + bias) v.
    /// q rows have stride `inner`; keys/values are (tk, inner); bias is (heads, tq, tk) or nil.
    func attend(q: UnsafePointer<Float>, tq: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                tk: Int, bias: UnsafePointer<Float>?, ctx: UnsafeMutablePointer<Float>) {
        if tq == 1 {
            AttentionKernels.singleQuery(q: q, keys: keys, values: values, tk: tk, heads: heads, dKV: dKV,
                                         bias: bias, ctx: ctx)
            return
        }
        var scores = [Float](repeating: 0, count: tq * tk)   // (tq, tk) for one head
        scores.withUnsafeMutableBufferPointer { sp in
            let s = sp.baseAddress!
            for h in 0..<heads {
                let off = h * dKV
                BLAS.gemm(m: tq, n: tk, k: dKV, a: q + off, lda: inner, b: keys + off, ldb: inner,
                          transposeB: true, c: s, ldc: tk)
                if let bias { Kernels.add(bias + h * tq * tk, into: s, count: tq * tk) }
                WorkerPool.parallelFor(tq, grain: 1, minimumPerWorker: max(1, 8192 / max(tk, 1))) { rows in
                    for i in rows { Kernels.softmaxVector(s + i * tk, count: tk) }
                }
                BLAS.gemm(m: tq, n: dKV, k: tk, a: s, lda: tk, b: values + off, ldb: inner,
                          transposeB: false, c: ctx + off, ldc: inner)
            }
        }
    }
}
