import Numerics

/// T5DenseActDense (relu, T5 v1.0) or T5DenseGatedActDense (gated-gelu, T5 v1.1 / FLAN).
public struct T5DenseFF: Sendable {
    public let wi: Linear?                 // (d_ff, d_model), ungated
    public let wi0: Linear?, wi1: Linear?  // (d_ff, d_model) each, gated
    public let wo: Linear                  // (d_model, d_ff)
    public let activation: Kernels.Activation

    init(_ ckpt: Checkpoint, _ prefix: String, config c: T5Config, sites: inout [String]) throws(ModelError) {
        activation = try c.activation
        if c.isGatedActivation {
            wi = nil
            wi0 = try Linear(ckpt, prefix + ".wi_0", out: c.dFF, in: c.dModel, sites: &sites)
            wi1 = try Linear(ckpt, prefix + ".wi_1", out: c.dFF, in: c.dModel, sites: &sites)
        } else {
            wi = try Linear(ckpt, prefix + ".wi", out: c.dFF, in: c.dModel, sites: &sites)
            wi0 = nil; wi1 = nil
        }
        wo = try Linear(ckpt, prefix + ".wo", out: c.dModel, in: c.dFF, sites: &sites)
    }

    /// out (rows, d_model) = wo(act(wi_0 x) * wi_1 x)  or  wo(act(wi x))
    func forward(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, segments: RowSegments) {
        let dff = wo.inFeatures
        var hidden = [Float](repeating: 0, count: rows * dff)   // (rows, d_ff)
        hidden.withUnsafeMutableBufferPointer { hp in
            let h = hp.baseAddress!
            if let wi0, let wi1 {
                var gate = [Float](repeating: 0, count: rows * dff)   // (rows, d_ff)
                wi0.forward(x, rows: rows, into: h, segments: segments)
                Kernels.activate(h, count: rows * dff, activation)
                gate.withUnsafeMutableBufferPointer { g in
                    wi1.forward(x, rows: rows, into: g.baseAddress!, segments: segments)
                    Kernels.multiply(h, by: g.baseAddress!, count: rows * dff)
                }
            } else if let wi {
                wi.forward(x, rows: rows, into: h, segments: segments)
                Kernels.activate(h, count: rows * dff, activation)
            }
            wo.forward(h, rows: rows, into: out, segments: segments)
        }
    }
}
