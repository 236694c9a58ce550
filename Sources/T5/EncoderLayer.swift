import Numerics

extension T5Block {
    /// One encoder layer over a packed batch, in place: hidden (rows, d_model), sequence s at
    /// rows offsets[s]..<offsets[s+1] with its position bias biases[s] (heads, L, L). q, k and v
    /// come from one fused product into state.qkv (rows, 3 * inner).
    func encoderLayer(_ hidden: UnsafeMutablePointer<Float>, offsets: [Int], biases: [[Float]], segments: RowSegments,
                      state: RunState) {
        let rows = offsets.last ?? 0
        guard rows > 0 else { return }
        let attn = selfAttention, qkvProduct = selfAttention.qkv!
        let d = state.dModel, inner = state.inner, ld = 3 * inner
        selfAttentionNorm.forward(hidden, rows: rows, into: state.normed)
        qkvProduct.forward(state.normed, rows: rows, into: state.qkv, segments: segments)   // (rows, 3 * inner)
        attn.attendPacked(qkv: state.qkv, ld: ld, offsets: offsets, biases: biases, ctx: state.ctx)
        attn.o.forward(state.ctx, rows: rows, into: state.out, segments: segments)
        Kernels.add(state.out, into: hidden, count: rows * d)
        feedForwardResidual(hidden, rows: rows, dModel: d, segments: segments, state: state)
    }
}
