import Numerics

/// A bias-free `nn.Linear` of the frozen base, plus whatever LoRA deltas the rows' adapters
/// attach at this site.
public struct Linear: Sendable {
    public let weight: Tensor   // (out_features, in_features)
    /// Index into `T5ForConditionalGeneration.linearSites` (what adapters are keyed by).
    public let site: Int
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    init(_ ckpt: Checkpoint, _ prefix: String, out: Int, in: Int, sites: inout [String]) throws(ModelError) {
        weight = try ckpt.tensor(prefix + ".weight", shape: [out, `in`])
        site = sites.count
        sites.append(prefix)
    }

    /// y (rows, out) = x (rows, in) · W^T + Σ_segments scale · (x A^T) B^T
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        segments: RowSegments) {
        weight.storage.withUnsafeBufferPointer { w in
            BLAS.gemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                      b: w.baseAddress!, ldb: inFeatures, transposeB: true, c: y, ldc: outFeatures)
        }
        guard segments.hasAdapters else { return }
        for seg in segments.segments {
            guard let deltas = seg.adapter?.deltas, site < deltas.count, let delta = deltas[site] else { continue }
            applyDelta(delta, x + seg.start * inFeatures, rows: seg.count, y + seg.start * outFeatures)
        }
    }

    private func applyDelta(_ d: LowRankDelta, _ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        let r = d.rank
        var t = [Float](repeating: 0, count: rows * r)   // (rows, r)
        d.a.storage.withUnsafeBufferPointer { a in
            t.withUnsafeMutableBufferPointer { tp in
                BLAS.gemm(m: rows, n: r, k: inFeatures, a: x, lda: inFeatures,
                          b: a.baseAddress!, ldb: inFeatures, transposeB: true, c: tp.baseAddress!, ldc: r)
            }
        }
        // PEFT: result + lora_B(lora_A(x)) * scaling — the product is formed, then scaled, then added.
        var u = [Float](repeating: 0, count: rows * outFeatures)   // (rows, out)
        d.b.storage.withUnsafeBufferPointer { b in
            t.withUnsafeBufferPointer { tp in
                u.withUnsafeMutableBufferPointer { up in
                    BLAS.gemm(m: rows, n: outFeatures, k: r, a: tp.baseAddress!, lda: r,
                              b: b.baseAddress!, ldb: r, transposeB: true, c: up.baseAddress!, ldc: outFeatures)
                }
            }
        }
        for i in 0..<(rows * outFeatures) { y[i] += u[i] * d.scale }
    }
}

/// T5LayerNorm: RMS norm with a learned scale, no mean and no bias.
public struct T5LayerNorm: Sendable {
    public let weight: [Float]   // (d_model)
    public let eps: Float

    init(_ ckpt: Checkpoint, _ prefix: String, dim: Int, eps: Float) throws(ModelError) {
        weight = try ckpt.tensor(prefix + ".weight", shape: [dim]).storage
        self.eps = eps
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            Kernels.rmsNorm(x, rows: rows, dim: w.count, weight: w.baseAddress!, eps: eps, into: y)
        }
    }
}
