import Numerics

/// Sibling modules that read the same input (self-attention q, k, v; the gated FF's wi_0, wi_1;
/// cross-attention k, v over the encoder output) held as ONE weight matrix, their rows stacked in
/// order, so a step streams them in one product instead of one per module. The matrix is built
/// from the checkpoint's F32 rows before packing, so it works for every `WeightFormat` (each
/// row keeps its own scale). Each module stays a `Linear` of its own (its checkpoint name, its
/// adapter site, its row range), and its adapters act on its columns of the fused output.
public struct FusedLinear: Sendable {
    public let weight: WeightMatrix   // (Σ out_p, in_features)
    public let parts: [Linear]        // in row order; parts[p] is rows parts[p].rowOffset..<+out

    /// Loads `prefixes` (each (out, in)) from the checkpoint, by their Hugging Face names.
    init(_ ckpt: Checkpoint, _ prefixes: [String], out: Int, in: Int, sites: inout [String]) throws(ModelError) {
        var values = [Float]()   // (prefixes.count * out, in)
        values.reserveCapacity(prefixes.count * out * `in`)
        for p in prefixes { values += try ckpt.tensor(p + ".weight", shape: [out, `in`]).storage }
        let weight = WeightMatrix(values: values, rows: prefixes.count * out, columns: `in`, format: ckpt.weightFormat)
        var parts: [Linear] = []
        for (i, p) in prefixes.enumerated() {
            parts.append(Linear(weight: weight, rowOffset: i * out, out: out, prefix: p, sites: &sites))
        }
        self.weight = weight
        self.parts = parts
    }

    public var inFeatures: Int { weight.columns }
    /// Columns of the fused output.
    public var outFeatures: Int { weight.rows }

    /// y (rows, Σ out_p) = x (rows, in) · Wᵀ, then each module's adapter terms on its columns.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, segments: RowSegments) {
        weight.multiply(x, m: rows, into: y)
        guard segments.hasAdapters else { return }
        for part in parts {
            part.applyAdapters(x, rows: rows, y: y, ldy: outFeatures, segments: segments, inputScaled: false)
        }
    }
}
