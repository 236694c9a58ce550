/// Attention for one query row (a decoder step): per head, scores over the cached keys, a
/// softmax, and the weighted sum of values, without per-head BLAS calls whose fixed cost
/// dominates at these sizes.
public enum AttentionKernels {
    /// q (heads * dKV); keys/values (tk, heads * dKV); bias (heads, tk) or nil; ctx (heads * dKV).
    @inlinable
    public static func singleQuery(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                   tk: Int, heads: Int, dKV: Int, bias: UnsafePointer<Float>?,
                                   ctx: UnsafeMutablePointer<Float>) {
        let inner = heads * dKV
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tk) { scores in
            let s = scores.baseAddress!
            for h in 0..<heads {
                let qh = q + h * dKV
                for j in 0..<tk {
                    s[j] = dot(qh, keys + j * inner + h * dKV, dKV) + (bias?[h * tk + j] ?? 0)
                }
                Kernels.softmaxVector(s, count: tk)
                let out = ctx + h * dKV
                out.update(repeating: 0, count: dKV)
                for j in 0..<tk { axpy(s[j], values + j * inner + h * dKV, out, dKV) }
            }
        }
    }

    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                            UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            acc1.addProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self),
                            UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self))
            i += 16
        }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += a * x
    @inlinable @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = SIMD8<Float>(repeating: a)
        var i = 0
        while i + 8 <= n {
            var yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            yv.addProduct(av, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}
