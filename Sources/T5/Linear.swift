import Numerics

/// A bias-free `nn.Linear` of the frozen base (one Hugging Face module, one adapter site), plus
/// whatever adapter deltas the rows' adapters attach at this site. Its rows may live inside a
/// fused matrix shared with sibling modules that read the same input (`FusedLinear`): the
/// product is then formed once for all of them, and this module's adapters act on its slice.
public struct Linear: Sendable {
    /// The matrix holding this module's rows: its own, or a fused one (`FusedLinear`).
    public let weight: WeightMatrix   // (weight.rows, in_features); this module is rows rowOffset..<rowOffset+outFeatures
    /// First row of this module in `weight` (0 unless fused).
    public let rowOffset: Int
    public let outFeatures: Int
    /// Index into `T5ForConditionalGeneration.linearSites` (what adapters are keyed by).
    public let site: Int
    public var inFeatures: Int { weight.columns }

    init(_ ckpt: Checkpoint, _ prefix: String, out: Int, in: Int, sites: inout [String]) throws(ModelError) {
        self.init(weight: WeightMatrix(try ckpt.tensor(prefix + ".weight", shape: [out, `in`]), format: ckpt.weightFormat),
                  rowOffset: 0, out: out, prefix: prefix, sites: &sites)
    }

    init(weight: WeightMatrix, rowOffset: Int, out: Int, prefix: String, sites: inout [String]) {
        precondition(rowOffset + out <= weight.rows)
        self.weight = weight
        self.rowOffset = rowOffset
        outFeatures = out
        site = sites.count
        sites.append(prefix)
    }

    /// This module's own frozen weight: its rows of the (possibly fused) matrix.
    public var baseWeight: LinearWeight {
        LinearWeight(matrix: weight, rows: rowOffset..<(rowOffset + outFeatures))
    }

    /// y (rows, out) = x (rows, in) · W^T + the rows' adapter deltas. Only for a module that owns
    /// its whole matrix; fused modules run through `FusedLinear.forward`.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                        segments: RowSegments) {
        precondition(rowOffset == 0 && outFeatures == weight.rows, "a fused module runs through its FusedLinear")
        guard segments.hasAdapters else {
            weight.multiply(x, m: rows, into: y)
            return
        }
        // IA3 on a feed-forward layer scales its input (AdapterMethods.swift): for a module of its
        // own, the scaled copy feeds the one product.
        if let scaled = ia3ScaledInput(x, rows: rows, segments: segments) {
            scaled.withUnsafeBufferPointer { s in
                weight.multiply(s.baseAddress!, m: rows, into: y)
                applyAdapters(s.baseAddress!, rows: rows, y: y, ldy: outFeatures, segments: segments, inputScaled: true)
            }
        } else {
            weight.multiply(x, m: rows, into: y)
            applyAdapters(x, rows: rows, y: y, ldy: outFeatures, segments: segments, inputScaled: false)
        }
    }

    /// Adds this module's adapter terms to its columns of y (rows, ldy), which hold the base
    /// product (columns rowOffset..<rowOffset+out of a fused product). `inputScaled`: x already
    /// carries any IA3 input scaling; otherwise a segment whose adapter scales this module's
    /// input gets its slice recomputed from a scaled copy of its rows.
    func applyAdapters(_ x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
                       segments: RowSegments, inputScaled: Bool) {
        let k = inFeatures, n = outFeatures, site = site
        // Only segments whose adapter acts here (a decoder step passes every module, with or
        // without a LoRA on it, ~100 times per token).
        let work = segments.segments.filter { seg in
            guard let a = seg.adapter else { return false }
            return (site < a.deltas.count && a.deltas[site] != nil) || (site < a.ia3.count && a.ia3[site] != nil)
        }
        guard !work.isEmpty else { return }
        // Segments own disjoint rows of y, so workers take whole segments (a batch's requests on
        // different adapters in parallel); a lone segment keeps both workers for its products.
        WorkerPool.parallelFor(work.count, grain: 1, minimumPerWorker: 1) { range in
            for seg in work[range] {
                guard let adapter = seg.adapter else { continue }
                let ys = y + seg.start * ldy + rowOffset   // this module's slice of the segment's rows
                let delta = site < adapter.deltas.count ? adapter.deltas[site] : nil
                if !inputScaled, let v = ia3InputVector(adapter) {
                    // A fused sibling does not share this scaling: form this slice from x ⊙ v.
                    var scaled = Array(UnsafeBufferPointer(start: x + seg.start * k, count: seg.count * k))   // (seg rows, in)
                    for r in 0..<seg.count { for j in 0..<k { scaled[r * k + j] *= v[j] } }
                    var full = [Float](repeating: 0, count: seg.count * weight.rows)   // (seg rows, weight.rows)
                    scaled.withUnsafeBufferPointer { s in
                        full.withUnsafeMutableBufferPointer { weight.multiply(s.baseAddress!, m: seg.count, into: $0.baseAddress!) }
                        for r in 0..<seg.count {
                            for j in 0..<n { ys[r * ldy + j] = full[r * weight.rows + rowOffset + j] }
                        }
                        if let delta { applyDelta(delta, s.baseAddress!, rows: seg.count, ys, ldy: ldy) }
                    }
                } else if let delta {
                    applyDelta(delta, x + seg.start * k, rows: seg.count, ys, ldy: ldy)
                }
                applyIA3Output(ys, rows: seg.count, ldy: ldy, adapter: adapter)
            }
        }
    }

    /// y (rows, out; row stride ldy) += scale · (x Aᵀ) Bᵀ, or DoRA's update of it.
    private func applyDelta(_ d: LowRankDelta, _ x: UnsafePointer<Float>, rows: Int, _ y: UnsafeMutablePointer<Float>,
                            ldy: Int) {
        let r = d.rank, n = outFeatures
        Scratch.with(bytes: (rows * r + rows * n) * 4) { raw in
            let t = raw.bindMemory(to: Float.self, capacity: rows * (r + n))   // (rows, r)
            let u = t + rows * r                                              // (rows, out)
            d.a.storage.withUnsafeBufferPointer { a in
                lowRankProduct(x, rows: rows, k: inFeatures, w: a.baseAddress!, n: r, into: t)
            }
            // PEFT: result + lora_B(lora_A(x)) * scaling — the product is formed, then scaled, then added.
            d.b.storage.withUnsafeBufferPointer { b in
                lowRankProduct(t, rows: rows, k: r, w: b.baseAddress!, n: n, into: u)
            }
            if let g = d.magnitudeScale {
                Self.addDoRA(y, ldy: ldy, u, rows: rows, out: n, scale: d.scale, g: g)
            } else {
                for i in 0..<rows {
                    for j in 0..<n { y[i * ldy + j] += u[i * n + j] * d.scale }
                }
            }
        }
    }
}

/// One module's frozen weight as a row range of the matrix holding it (DoRA's load-time norms
/// read it): the same rows whether the module is fused with its siblings or not.
public struct LinearWeight: Sendable {
    public let matrix: WeightMatrix   // (matrix.rows, columns); this module is `range`
    public let range: Range<Int>
    public init(matrix: WeightMatrix, rows range: Range<Int>) {
        self.matrix = matrix
        self.range = range
    }
    public var rows: Int { range.count }
    public var columns: Int { matrix.columns }
    public var format: WeightFormat { matrix.format }
    /// Rows `local` of this module (0-based) as F32, scales applied, into out (local.count, columns).
    public func dequantize(rows local: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(local.upperBound <= range.count)
        matrix.dequantize(rows: (range.lowerBound + local.lowerBound)..<(range.lowerBound + local.upperBound), into: out)
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
