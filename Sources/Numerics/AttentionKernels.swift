/// Attention for one query row (a decoder step): per head, scores over the cached keys, a
/// softmax, and the weighted sum of values, without per-head BLAS calls whose fixed cost
/// dominates at these sizes.
public enum AttentionKernels {
    /// q (heads * dKV); keys/values (tk, heads * dKV); bias (heads, tk) or nil; ctx (heads * dKV).
    /// Only heads in `headRange` are computed, so callers can split one query across cores.
    /// Keys and values are walked row by row (all heads of the range at once): a cached row is
    /// one contiguous stretch of memory, where per-head walks would stride through it.
    @inlinable
    public static func singleQuery(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                   tk: Int, heads: Int, dKV: Int, bias: UnsafePointer<Float>?,
                                   ctx: UnsafeMutablePointer<Float>, headRange: Range<Int>? = nil) {
        let inner = heads * dKV
        let hs = headRange ?? 0..<heads
        let lo = hs.lowerBound * dKV, width = hs.count * dKV
        withUnsafeTemporaryAllocation(of: Float.self, capacity: hs.count * tk) { scores in
            let s = scores.baseAddress!   // (hs.count, tk)
            for j in 0..<tk {
                let key = keys + j * inner
                for (g, h) in hs.enumerated() { s[g * tk + j] = dot(q + h * dKV, key + h * dKV, dKV) }
            }
            for (g, h) in hs.enumerated() {
                if let bias { Kernels.add(bias + h * tk, into: s + g * tk, count: tk) }
                Kernels.softmaxVector(s + g * tk, count: tk)
            }
            let out = ctx + lo
            out.update(repeating: 0, count: width)
            for j in 0..<tk {
                let value = values + j * inner + lo
                for g in 0..<hs.count { axpy(s[g * tk + j], value + g * dKV, out + g * dKV, dKV) }
            }
        }
    }

    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            // Multiply then add, not addProduct: the Swift modules build for baseline x86-64, where
            // a fused multiply-add is a libm call per lane.
            acc0 += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            acc1 += UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self)
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
            yv += av * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}
