import Numerics

/// One IA3 module's learned vector (PEFT `ia3_l`). PEFT scales the input of the layers it lists in
/// `feedforward_modules` (T5: `wo`) and the output of every other targeted layer.
public struct IA3Scale: Sendable {
    public let vector: [Float]     // (in_features) when scalesInput, else (out_features)
    public let scalesInput: Bool
    public init(vector: [Float], scalesInput: Bool) {
        self.vector = vector
        self.scalesInput = scalesInput
    }
}

/// The per-row-group hooks of the methods beyond plain LoRA. Each touches only the rows of the
/// segments whose adapter has something at this site, so a batch mixing adapters (and the base)
/// computes for every row what that row's adapter alone computes.
extension Linear {
    /// IA3 on the input: a copy of x (rows, in) with each IA3 segment's rows scaled by its vector,
    /// or nil when no segment scales this layer's input (x is then used as is).
    func ia3ScaledInput(_ x: UnsafePointer<Float>, rows: Int, segments: RowSegments) -> [Float]? {
        let scaling = segments.segments.compactMap { seg -> (RowSegments.Segment, [Float])? in
            guard let ia3 = seg.adapter?.ia3, site < ia3.count, let s = ia3[site], s.scalesInput else { return nil }
            return (seg, s.vector)
        }
        guard !scaling.isEmpty else { return nil }
        let k = inFeatures
        var copy = Array(UnsafeBufferPointer(start: x, count: rows * k))   // (rows, in)
        for (seg, vector) in scaling {
            for r in seg.start..<(seg.start + seg.count) {
                for j in 0..<k { copy[r * k + j] *= vector[j] }
            }
        }
        return copy
    }

    /// The IA3 vector this adapter scales this module's input by, if any.
    func ia3InputVector(_ adapter: AdapterWeights) -> [Float]? {
        guard site < adapter.ia3.count, let s = adapter.ia3[site], s.scalesInput else { return nil }
        return s.vector
    }

    /// IA3 on the output: y (rows, out; row stride ldy) times the adapter's vector, if it has one here.
    func applyIA3Output(_ y: UnsafeMutablePointer<Float>, rows: Int, ldy: Int, adapter: AdapterWeights) {
        guard site < adapter.ia3.count, let s = adapter.ia3[site], !s.scalesInput else { return }
        let n = outFeatures
        for r in 0..<rows {
            for j in 0..<n { y[r * ldy + j] *= s.vector[j] }
        }
    }

    /// DoRA's update of the base output, as PEFT's DoraLinearLayer adds it:
    /// y += (g - 1) · y + g · (u · scale), with g = m / ||W + scale·B·A|| per output column of y,
    /// y (rows, out; row stride ldy) holding the base output W x and u (rows, out) = (x Aᵀ) Bᵀ.
    static func addDoRA(_ y: UnsafeMutablePointer<Float>, ldy: Int, _ u: UnsafePointer<Float>, rows: Int, out n: Int, scale: Float, g: [Float]) {
        for r in 0..<rows {
            for j in 0..<n {
                let base = y[r * ldy + j]
                y[r * ldy + j] = base + ((g[j] - 1) * base + g[j] * u[r * n + j] * scale)
            }
        }
    }
}

extension T5ForConditionalGeneration {
    /// The frozen weight of the Linear at `site` (DoRA's load-time norms read it): its rows of
    /// the matrix holding it, fused or not.
    public func linearWeight(_ site: Int) -> LinearWeight {
        guard let l = allLinears.first(where: { $0.site == site }) else { preconditionFailure("no Linear at site \(site)") }
        return l.baseWeight
    }
}

/// Prefix tuning's per-layer key/value prefix for the decoder's self-attention. PEFT hands it to
/// T5 as the first `length` positions of the self-attention cache (its cross-attention cache is
/// reset to empty, so the cross-attention and the encoder see no prefix); the decoder's real tokens
/// then sit at positions length, length+1, ... for T5's relative position bias, and every
/// query attends to the whole prefix.
public struct DecoderPrefix: Sendable {
    public let length: Int
    public let keys: [[Float]]     // per decoder layer: (length, inner)
    public let values: [[Float]]   // per decoder layer: (length, inner)
    public init(length: Int, keys: [[Float]], values: [[Float]]) {
        self.length = length
        self.keys = keys
        self.values = values
    }
}
