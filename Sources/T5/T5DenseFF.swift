import Numerics

/// T5DenseActDense (relu, T5 v1.0) or T5DenseGatedActDense (gated-gelu, T5 v1.1 / FLAN).
public struct T5DenseFF: Sendable {
    public let wi: Linear?          // (d_ff, d_model), ungated
    /// Gated: wi_0 and wi_1 fused into one product (2·d_ff, d_model), wi_0's rows first.
    public let wi01: FusedLinear?
    public let wo: Linear           // (d_model, d_ff)
    public let activation: Kernels.Activation

    init(_ ckpt: Checkpoint, _ prefix: String, config c: T5Config, sites: inout [String]) throws(ModelError) {
        activation = try c.activation
        if c.isGatedActivation {
            wi = nil
            wi01 = try FusedLinear(ckpt, [prefix + ".wi_0", prefix + ".wi_1"], out: c.dFF, in: c.dModel, sites: &sites)
        } else {
            wi = try Linear(ckpt, prefix + ".wi", out: c.dFF, in: c.dModel, sites: &sites)
            wi01 = nil
        }
        wo = try Linear(ckpt, prefix + ".wo", out: c.dModel, in: c.dFF, sites: &sites)
    }

    /// Every module, in site order.
    public var linears: [Linear] { [wi].compactMap { $0 } + (wi01?.parts ?? []) + [wo] }

    /// out (rows, d_model) = wo(act(wi_0 x) * wi_1 x)  or  wo(act(wi x)), in `state`'s ff and
    /// gated buffers.
    func forward(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, segments: RowSegments,
                 state: RunState) {
        let dff = wo.inFeatures
        if let wi01 {
            wi01.forward(x, rows: rows, into: state.ff, segments: segments)   // (rows, 2 * d_ff)
            Kernels.gatedActivation(state.ff, rows: rows, width: dff, activation, into: state.gated)
            wo.forward(state.gated, rows: rows, into: out, segments: segments)
        } else if let wi {
            wi.forward(x, rows: rows, into: state.ff, segments: segments)     // (rows, d_ff)
            Kernels.activate(state.ff, count: rows * dff, activation)
            wo.forward(state.ff, rows: rows, into: out, segments: segments)
        }
    }
}
