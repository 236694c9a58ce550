import Foundation

/// Vector transcendental functions for softmax and GELU. libm's expf/tanhf are scalar calls and
/// took a tenth of prefill; these use only arithmetic and bit operations, so they stay in
/// vector registers. Accuracy is within a few ULP of libm (tested against it).
public enum SIMDMath {
    /// e^x (Cephes expf polynomial), inputs clamped to the finite range.
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let x = clamp(v, -87.3, 88.3)
        // n = round(x / ln2) via the 1.5 * 2^23 magic number (its low bits then hold n).
        let shifted = x * 1.44269504088896341 + 12_582_912
        let n = shifted - 12_582_912
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * r * r + r + 1
        let k = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((k &+ 127) &<< 23, to: SIMD8<Float>.self)
        return y * scale
    }

    /// tanh(x) = 1 - 2 / (e^(2x) + 1), saturated beyond |x| = 9 where it is ±1 in F32.
    @inlinable @inline(__always)
    public static func tanh(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let x = clamp(v, -9, 9)
        return 1 - 2 / (exp(x + x) + 1)
    }

    /// Lane-wise max as a compare and a bit select. The standard library's pointwiseMax and
    /// clamped loop over lanes in a call that is not inlined: 3-4% of a prefill, measured.
    @inlinable @inline(__always)
    public static func max(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        let takeB = unsafeBitCast(a .< b, to: SIMD8<Int32>.self)   // all ones where a < b
        let ai = unsafeBitCast(a, to: SIMD8<Int32>.self), bi = unsafeBitCast(b, to: SIMD8<Int32>.self)
        return unsafeBitCast((bi & takeB) | (ai & ~takeB), to: SIMD8<Float>.self)
    }

    /// Lane-wise min, as `max`.
    @inlinable @inline(__always)
    public static func min(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        let takeB = unsafeBitCast(b .< a, to: SIMD8<Int32>.self)
        let ai = unsafeBitCast(a, to: SIMD8<Int32>.self), bi = unsafeBitCast(b, to: SIMD8<Int32>.self)
        return unsafeBitCast((bi & takeB) | (ai & ~takeB), to: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    static func clamp(_ v: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> {
        min(max(v, SIMD8(repeating: lo)), SIMD8(repeating: hi))
    }
}

extension Kernels {
    /// gelu_new over a buffer, eight lanes at a time.
    @inlinable
    public static func geluTanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        let c = SIMD8<Float>(repeating: 0.7978845608028654), a = SIMD8<Float>(repeating: 0.044715)
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let inner = c * (v + a * v * v * v)
            UnsafeMutableRawPointer(x + i).storeBytes(of: 0.5 * v * (1 + SIMDMath.tanh(inner)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { x[i] = geluTanh(x[i]); i += 1 }
    }

    /// Softmax of one row in place, vectorised.
    @inlinable
    public static func softmaxVector(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= 8 else { softmax(x, count: count); return }
        var mv = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count { mv = SIMDMath.max(mv, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)); i += 8 }
        var m = mv.max()
        while i < count { m = Swift.max(m, x[i]); i += 1 }
        let mvec = SIMD8<Float>(repeating: m)
        var sv = SIMD8<Float>()
        i = 0
        while i + 8 <= count {
            let e = SIMDMath.exp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - mvec)
            UnsafeMutableRawPointer(x + i).storeBytes(of: e, as: SIMD8<Float>.self)
            sv += e
            i += 8
        }
        var s = sv.sum()
        while i < count { let e = expf(x[i] - m); x[i] = e; s += e; i += 1 }
        let inv = 1 / s
        i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * inv
            UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { x[i] *= inv; i += 1 }
    }
}
