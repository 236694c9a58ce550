import Numerics

/// T5Block: self-attention, (decoder only) cross-attention, feed-forward; each sub-layer is
/// pre-norm with a residual add. Checkpoint names: layer.0 = self-attention, layer.1 =
/// EncDecAttention (decoder) or FF (encoder), layer.2 = FF (decoder).
public struct T5Block: Sendable {
    public let selfAttentionNorm: T5LayerNorm    // layer.0.layer_norm
    public let selfAttention: T5Attention        // layer.0.SelfAttention
    public let crossAttentionNorm: T5LayerNorm?  // layer.1.layer_norm (decoder)
    public let crossAttention: T5Attention?      // layer.1.EncDecAttention (decoder)
    public let feedForwardNorm: T5LayerNorm      // layer.{1,2}.layer_norm
    public let feedForward: T5DenseFF            // layer.{1,2}.DenseReluDense

    init(_ ckpt: Checkpoint, _ prefix: String, config c: T5Config, isDecoder: Bool, index: Int,
         sites: inout [String]) throws(ModelError) {
        selfAttentionNorm = try T5LayerNorm(ckpt, prefix + ".layer.0.layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        selfAttention = try T5Attention(ckpt, prefix + ".layer.0.SelfAttention", config: c,
                                        hasRelativeBias: index == 0, sites: &sites)
        if isDecoder {
            crossAttentionNorm = try T5LayerNorm(ckpt, prefix + ".layer.1.layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
            crossAttention = try T5Attention(ckpt, prefix + ".layer.1.EncDecAttention", config: c,
                                             hasRelativeBias: false, isCross: true, sites: &sites)
        } else {
            crossAttentionNorm = nil
            crossAttention = nil
        }
        let ffLayer = isDecoder ? 2 : 1
        feedForwardNorm = try T5LayerNorm(ckpt, prefix + ".layer.\(ffLayer).layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        feedForward = try T5DenseFF(ckpt, prefix + ".layer.\(ffLayer).DenseReluDense", config: c, sites: &sites)
    }

    /// Every module of the block, in site order.
    public var linears: [Linear] {
        selfAttention.linears + (crossAttention?.linears ?? []) + feedForward.linears
    }

    /// hidden (rows, d_model) += FF(norm(hidden)), in `state`'s buffers.
    func feedForwardResidual(_ hidden: UnsafeMutablePointer<Float>, rows: Int, dModel: Int, segments: RowSegments,
                             state: RunState) {
        feedForwardNorm.forward(hidden, rows: rows, into: state.normed)
        feedForward.forward(state.normed, rows: rows, into: state.out, segments: segments, state: state)
        Kernels.add(state.out, into: hidden, count: rows * dModel)
    }
}
