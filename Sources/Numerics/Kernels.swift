import Foundation

/// Element-wise kernels. Each has a plain scalar twin in `ReferenceKernels` that tests compare
/// against; these are written with SIMD accumulators because scalar float loops do not vectorise.
public enum Kernels {
    /// T5's RMS norm (no mean, no bias): y = x / sqrt(mean(x^2) + eps) * weight, per row.
    /// The variance is accumulated in F32 like `hidden_states.to(torch.float32).pow(2).mean(-1)`.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: UnsafePointer<Float>,
                               eps: Float, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * dim, yr = y + r * dim
            let ss = sumOfSquares(xr, dim)
            let scale = 1 / (ss / Float(dim) + eps).squareRoot()
            for i in 0..<dim { yr[i] = weight[i] * (xr[i] * scale) }
        }
    }

    @inlinable
    public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            let v0 = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let v1 = UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self)
            a0 += v0 * v0; a1 += v1 * v1
            i += 16
        }
        var s = (a0 + a1).sum()
        while i < n { s += x[i] * x[i]; i += 1 }
        return s
    }

    /// x += y, element-wise (residual connections).
    @inlinable
    public static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: a + b, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { x[i] += y[i]; i += 1 }
    }

    /// x *= s.
    @inlinable
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by s: Float) {
        for i in 0..<count { x[i] *= s }
    }

    /// The activations T5 configs name (`dense_act_fn`).
    public enum Activation: String, Sendable {
        case relu
        /// tanh approximation ("gelu_new", "gelu_pytorch_tanh"): what gated-gelu FLAN-T5 uses.
        case geluTanh = "gelu_new"
        /// exact erf GELU ("gelu").
        case gelu
        case silu

        public init?(configName: String) {
            switch configName {
            case "relu": self = .relu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
            case "gelu": self = .gelu
            case "silu", "swish": self = .silu
            default: return nil
            }
        }
    }

    /// Elementwise, so a prefill's (tokens, d_ff) activation is split over the cores; the
    /// result does not depend on the split.
    @inlinable
    public static func activate(_ x: UnsafeMutablePointer<Float>, count: Int, _ act: Activation) {
        WorkerPool.parallelFor(count, grain: 64, minimumPerWorker: 1 << 15) { range in
            activateSerial(x + range.lowerBound, count: range.count, act)
        }
    }

    @inlinable
    static func activateSerial(_ x: UnsafeMutablePointer<Float>, count: Int, _ act: Activation) {
        switch act {
        case .relu: for i in 0..<count { x[i] = max(x[i], 0) }
        case .geluTanh: geluTanhInPlace(x, count: count)
        case .gelu: for i in 0..<count { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.70710678118654752)) }
        case .silu: for i in 0..<count { x[i] = x[i] / (1 + expf(-x[i])) }
        }
    }

    /// The gated feed-forward's middle from the fused wi_0 | wi_1 product: out[r, j] =
    /// act(fused[r, j]) * fused[r, n + j], fused (rows, 2n), out (rows, n). Elementwise as
    /// `activate` then `multiply`, so the values are the same; rows are split over the cores.
    @inlinable
    public static func gatedActivation(_ fused: UnsafeMutablePointer<Float>, rows: Int, width n: Int, _ act: Activation,
                                       into out: UnsafeMutablePointer<Float>) {
        WorkerPool.parallelFor(rows, grain: 1, minimumPerWorker: max(1, (1 << 15) / max(n, 1))) { range in
            for r in range {
                let a = fused + r * 2 * n
                activateSerial(a, count: n, act)
                multiply(a, by: a + n, count: n)
                (out + r * n).update(from: a, count: n)
            }
        }
    }

    /// In place: a[i] = a[i] * b[i] (the gate of a gated feed-forward).
    @inlinable
    public static func multiply(_ a: UnsafeMutablePointer<Float>, by b: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(a + i).storeBytes(of: va * vb, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { a[i] *= b[i]; i += 1 }
    }

    /// log_softmax of one row into `out` (beam search scores), in F32 like torch.
    @inlinable
    public static func logSoftmax(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        var m = -Float.infinity
        for i in 0..<count { m = max(m, x[i]) }
        var s: Float = 0
        for i in 0..<count { s += expf(x[i] - m) }
        let lse = m + logf(s)
        for i in 0..<count { out[i] = x[i] - lse }
    }
}
