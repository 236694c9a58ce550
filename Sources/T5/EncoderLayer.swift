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
        let qkv = UnsafePointer(state.qkv)
        for s in 0..<(offsets.count - 1) {
            let start = offsets[s], L = offsets[s + 1] - start
            biases[s].withUnsafeBufferPointer { bp in
                attn.attend(q: qkv + start * ld, tq: L, keys: qkv + start * ld + inner, values: qkv + start * ld + 2 * inner,
                            ld: ld, tk: L, bias: bp.baseAddress, ctx: state.ctx + start * inner,
                            scores: state.scores(count: L * L))
            }
        }
        attn.o.forward(state.ctx, rows: rows, into: state.out, segments: segments)
        Kernels.add(state.out, into: hidden, count: rows * d)
        feedForwardResidual(hidden, rows: rows, dModel: d, segments: segments, state: state)
    }
}
