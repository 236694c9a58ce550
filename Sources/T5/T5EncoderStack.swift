import Numerics

/// The encoder T5Stack: bidirectional self-attention over each sequence of a packed batch.
/// Sequences are packed back to back (no padding), which is exactly what an attention mask
/// over padded rows computes, without the wasted rows.
public struct T5EncoderStack: Sendable {
    public let blocks: [T5Block]
    public let finalLayerNorm: T5LayerNorm   // encoder.final_layer_norm
    let config: T5Config

    init(_ ckpt: Checkpoint, config c: T5Config, sites: inout [String]) throws(ModelError) {
        var blocks: [T5Block] = []
        for i in 0..<c.numLayers {
            blocks.append(try T5Block(ckpt, "encoder.block.\(i)", config: c, isDecoder: false, index: i, sites: &sites))
        }
        self.blocks = blocks
        finalLayerNorm = try T5LayerNorm(ckpt, "encoder.final_layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        config = c
    }

    /// hidden (total_rows, d_model), sequence s at rows offsets[s]..<offsets[s+1]; in place.
    func forward(_ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments) {
        let d = config.dModel, inner = config.innerDim, heads = config.numHeads
        let rows = offsets.last ?? 0
        guard rows > 0 else { return }
        let table = blocks[0].selfAttention.relativeAttentionBias!
        // Per sequence: (heads, L, L), shared by every layer as in transformers.
        let biases: [[Float]] = (0..<(offsets.count - 1)).map { s in
            let L = offsets[s + 1] - offsets[s]
            return positionBias(table: table, heads: heads, queryLength: L, keyLength: L, queryOffset: 0,
                                bidirectional: true, numBuckets: config.relativeAttentionNumBuckets,
                                maxDistance: config.relativeAttentionMaxDistance)
        }
        var normed = [Float](repeating: 0, count: rows * d)   // (rows, d_model)
        var q = [Float](repeating: 0, count: rows * inner)      // (rows, inner)
        var k = q, v = q, ctx = q                                // (rows, inner)
        var out = normed                                         // (rows, d_model)
        for block in blocks {
            let attn = block.selfAttention
            normed.withUnsafeMutableBufferPointer { n in
                block.selfAttentionNorm.forward(hidden, rows: rows, into: n.baseAddress!)
                q.withUnsafeMutableBufferPointer { attn.q.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
                k.withUnsafeMutableBufferPointer { attn.k.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
                v.withUnsafeMutableBufferPointer { attn.v.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
            }
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                ctx.withUnsafeMutableBufferPointer { cp in
                    for s in 0..<(offsets.count - 1) {
                        let start = offsets[s], L = offsets[s + 1] - start
                        biases[s].withUnsafeBufferPointer { bp in
                            attn.attend(q: qp.baseAddress! + start * inner, tq: L,
                                        keys: kp.baseAddress! + start * inner, values: vp.baseAddress! + start * inner,
                                        tk: L, bias: bp.baseAddress, ctx: cp.baseAddress! + start * inner)
                        }
                    }
                }
            }}}
            ctx.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                attn.o.forward(cp.baseAddress!, rows: rows, into: op.baseAddress!, segments: segments)
                Kernels.add(op.baseAddress!, into: hidden, count: rows * d)
            }}
            block.feedForwardResidual(hidden, rows: rows, dModel: d, segments: segments)
        }
        normed.withUnsafeMutableBufferPointer { n in
            finalLayerNorm.forward(hidden, rows: rows, into: n.baseAddress!)
            hidden.update(from: n.baseAddress!, count: rows * d)
        }
    }
}
