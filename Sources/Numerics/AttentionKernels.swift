import CKernels

/// Attention for one query row (a decoder step): per head, scores over the cached keys, a
/// softmax, and the weighted sum of values, without per-head BLAS calls whose fixed cost
/// dominates at these sizes. The work is CKernels' per-ISA `ck_self_attention` (about a tenth of
/// an nf4 batch-1 decode step when it was baseline Swift).
public enum AttentionKernels {
    /// q (heads * dKV); keys/values (tk, heads * dKV); bias (heads, tk) or nil; ctx (heads * dKV).
    /// Only heads in `headRange` are computed (only their columns of ctx written), so callers can
    /// split one query across cores. `isa`: nil is the selected variant.
    public static func singleQuery(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                   tk: Int, heads: Int, dKV: Int, bias: UnsafePointer<Float>?,
                                   ctx: UnsafeMutablePointer<Float>, headRange: Range<Int>? = nil,
                                   isa: KernelISA? = nil) {
        let hs = headRange ?? 0..<heads
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(1, hs.count * tk)) { scores in
            // scores: (hs.count, tk)
            ck_self_attention(isa?.c ?? ck_selected_isa(), q, keys, values, tk, heads, dKV, bias,
                              hs.lowerBound, hs.upperBound, scores.baseAddress!, ctx)
        }
    }

    /// The plain reference (double precision on libm), same contract.
    static func singleQueryReference(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                     tk: Int, heads: Int, dKV: Int, bias: UnsafePointer<Float>?,
                                     ctx: UnsafeMutablePointer<Float>, headRange: Range<Int>? = nil) {
        let hs = headRange ?? 0..<heads
        ck_self_attention_reference(q, keys, values, tk, heads, dKV, bias, hs.lowerBound, hs.upperBound, ctx)
    }
}
