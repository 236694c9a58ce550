import Numerics
import T5

/// DoRA (LoRA with `use_dora: true`), as PEFT's DoraLinearLayer applies it at inference:
///   y = W x + (g - 1) · W x + g · s · B A x,   g = m / ||W + s · B A||  (per output row, detached)
/// PEFT recomputes the norm on every forward; the base is frozen here, so it is computed once per
/// adapter at load and decoding pays only one extra per-channel scale.
enum DoRA {
    /// The delta for one module: A (r, in), B (out, r), PEFT scaling s, magnitude m (out), and the
    /// base weight W (out, in) in whatever format it is held (widened to fp32 row by row, which is
    /// the bf16/int8 dequantisation PEFT would see).
    static func delta(a: Tensor, b: Tensor, scale: Float, magnitude: [Float], base: LinearWeight) -> LowRankDelta {
        let out = base.rows, k = base.columns, r = a.shape[0]
        var ba = [Float](repeating: 0, count: out * k)   // (out, in) = B · A
        a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in
            ba.withUnsafeMutableBufferPointer { cp in
                BLAS.gemm(m: out, n: k, k: r, a: bp.baseAddress!, lda: r, b: ap.baseAddress!, ldb: k, transposeB: false,
                          c: cp.baseAddress!, ldc: k)
            }
        }}
        var g = [Float](repeating: 0, count: out)
        let chunk = 64
        var w = [Float](repeating: 0, count: chunk * k)   // (chunk, in) widened base rows
        w.withUnsafeMutableBufferPointer { wp in
            for start in stride(from: 0, to: out, by: chunk) {
                let rows = min(chunk, out - start)
                base.dequantize(rows: start..<(start + rows), into: wp.baseAddress!)
                for i in 0..<rows {
                    var sum = 0.0
                    for j in 0..<k {
                        // PEFT: weight + scaling * lora_weight, in fp32; the norm accumulated wider.
                        let v = wp[i * k + j] + scale * ba[(start + i) * k + j]
                        sum += Double(v) * Double(v)
                    }
                    g[start + i] = magnitude[start + i] / Float(sum.squareRoot())
                }
            }
        }
        return LowRankDelta(a: a, b: b, scale: scale, magnitudeScale: g)
    }
}
