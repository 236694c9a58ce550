import Numerics

/// A bias-free `nn.Linear` of the frozen base, plus whatever LoRA deltas the rows' adapters
/// attach at this site.
public struct Linear: Sendable {
    public let weight: WeightMatrix   // (out_features, in_features)
    /// Index into `T5ForConditionalGeneration.linearSites` (what adapters are keyed by).
    public let site: Int
    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    init(_ ckpt: Checkpoint, _ prefix: String, out: Int, in: Int, sites: inout [String]) throws(ModelError) {
        weight = WeightMatrix(try ckpt.tensor(prefix + ".weight", shape: [out, `in`]), format: ckpt.weightFormat)
        site = sites.count
        sites.append(prefix)
    }

    /// y (rows, out) = x (rows, in) · W^T + Σ_segments scale · (x A^T) B^T
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        segments: RowSegments) {
        guard segments.hasAdapters else {
            weight.multiply(x, m: rows, into: y)
            return
        }
        // IA3 on a feed-forward layer scales its input (AdapterMethods.swift).
        if let scaled = ia3ScaledInput(x, rows: rows, segments: segments) {
            scaled.withUnsafeBufferPointer { forwardAdapted($0.baseAddress!, rows: rows, into: y, segments: segments) }
        } else {
            forwardAdapted(x, rows: rows, into: y, segments: segments)
        }
    }

    private func forwardAdapted(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                                segments: RowSegments) {
        weight.multiply(x, m: rows, into: y)
        for seg in segments.segments {
            guard let deltas = seg.adapter?.deltas, site < deltas.count, let delta = deltas[site] else { continue }
            applyDelta(delta, x + seg.start * inFeatures, rows: seg.count, y + seg.start * outFeatures)
        }
        applyIA3Output(y, segments: segments)
    }

    private func applyDelta(_ d: LowRankDelta, _ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        let r = d.rank
        var t = [Float](repeating: 0, count: rows * r)   // (rows, r)
        d.a.storage.withUnsafeBufferPointer { a in
            t.withUnsafeMutableBufferPointer { tp in
                lowRankProduct(x, rows: rows, k: inFeatures, w: a.baseAddress!, n: r, into: tp.baseAddress!)
            }
        }
        // PEFT: result + lora_B(lora_A(x)) * scaling — the product is formed, then scaled, then added.
        var u = [Float](repeating: 0, count: rows * outFeatures)   // (rows, out)
        d.b.storage.withUnsafeBufferPointer { b in
            t.withUnsafeBufferPointer { tp in
                u.withUnsafeMutableBufferPointer { up in
                    lowRankProduct(tp.baseAddress!, rows: rows, k: r, w: b.baseAddress!, n: outFeatures, into: up.baseAddress!)
                }
            }
        }
        if let g = d.magnitudeScale {
            Self.addDoRA(y, u, rows: rows, out: outFeatures, scale: d.scale, g: g)
        } else {
            for i in 0..<(rows * outFeatures) { y[i] += u[i] * d.scale }
        }
    }
}

/// y (rows, n) = x (rows, k) · W (n, k)^T for the small LoRA factors: streamed for few rows,
/// OpenBLAS for many (prefill).
@inline(__always)
func lowRankProduct(_ x: UnsafePointer<Float>, rows: Int, k: Int, w: UnsafePointer<Float>, n: Int,
                    into y: UnsafeMutablePointer<Float>) {
    if rows <= WeightMatrix.skinnyRowLimit && F32Layout.fits(k) {
        UnsafeRawPointer(w).withMemoryRebound(to: UInt32.self, capacity: n * k) { words in
            SkinnyKernels.multiply(F32Layout.self, x: x, m: rows, k: k, w: words, n: n, y: y, ldy: n)
        }
    } else {
        BLAS.gemm(m: rows, n: n, k: k, a: x, lda: k, b: w, ldb: k, transposeB: true, c: y, ldc: n)
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
