import Numerics

/// The decoder T5Stack, run one token per hypothesis per step with a KV cache. Hypotheses of
/// different requests (and adapters) share each step's batched products.
public struct T5DecoderStack: Sendable {
    public let blocks: [T5Block]
    public let finalLayerNorm: T5LayerNorm   // decoder.final_layer_norm
    let config: T5Config

    init(_ ckpt: Checkpoint, config c: T5Config, sites: inout [String]) throws(ModelError) {
        var blocks: [T5Block] = []
        for i in 0..<c.numDecoderLayers {
            blocks.append(try T5Block(ckpt, "decoder.block.\(i)", config: c, isDecoder: true, index: i, sites: &sites))
        }
        self.blocks = blocks
        finalLayerNorm = try T5LayerNorm(ckpt, "decoder.final_layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        config = c
    }

    /// hidden (n, d_model): row i is the embedded token of states[i]; on return, the final-norm
    /// output for each row. Appends each row's key/value to its state's cache.
    func step(_ hidden: UnsafeMutablePointer<Float>, states: inout [DecoderState], segments: RowSegments) {
        let n = states.count, d = config.dModel, inner = config.innerDim, heads = config.numHeads
        guard n > 0 else { return }
        let table = blocks[0].selfAttention.relativeAttentionBias!
        // Per state: (heads, 1, position + 1), causal bias for the new query position.
        let biases: [[Float]] = states.map { s in
            positionBias(table: table, heads: heads, queryLength: 1, keyLength: s.length + 1,
                         queryOffset: s.length, bidirectional: false,
                         numBuckets: config.relativeAttentionNumBuckets, maxDistance: config.relativeAttentionMaxDistance)
        }
        var normed = [Float](repeating: 0, count: n * d)   // (n, d_model)
        var q = [Float](repeating: 0, count: n * inner)     // (n, inner)
        var k = q, v = q, ctx = q                            // (n, inner)
        var out = normed                                     // (n, d_model)
        for (l, block) in blocks.enumerated() {
            let attn = block.selfAttention
            normed.withUnsafeMutableBufferPointer { nb in
                block.selfAttentionNorm.forward(hidden, rows: n, into: nb.baseAddress!)
                q.withUnsafeMutableBufferPointer { attn.q.forward(nb.baseAddress!, rows: n, into: $0.baseAddress!, segments: segments) }
                k.withUnsafeMutableBufferPointer { attn.k.forward(nb.baseAddress!, rows: n, into: $0.baseAddress!, segments: segments) }
                v.withUnsafeMutableBufferPointer { attn.v.forward(nb.baseAddress!, rows: n, into: $0.baseAddress!, segments: segments) }
            }
            for i in 0..<n {
                states[i].selfKeys[l].append(contentsOf: k[(i * inner)..<((i + 1) * inner)])
                states[i].selfValues[l].append(contentsOf: v[(i * inner)..<((i + 1) * inner)])
            }
            q.withUnsafeBufferPointer { qp in ctx.withUnsafeMutableBufferPointer { cp in
                attn.attendEachRow(q: qp.baseAddress!, rows: n, ctx: cp.baseAddress!) { i, body in
                    states[i].selfKeys[l].withUnsafeBufferPointer { kp in
                        states[i].selfValues[l].withUnsafeBufferPointer { vp in
                            biases[i].withUnsafeBufferPointer { bp in
                                body(kp.baseAddress!, vp.baseAddress!, states[i].length + 1, bp.baseAddress)
                            }
                        }
                    }
                }
            }}
            ctx.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                attn.o.forward(cp.baseAddress!, rows: n, into: op.baseAddress!, segments: segments)
                Kernels.add(op.baseAddress!, into: hidden, count: n * d)
            }}

            let cross = block.crossAttention!
            normed.withUnsafeMutableBufferPointer { nb in
                block.crossAttentionNorm!.forward(hidden, rows: n, into: nb.baseAddress!)
                q.withUnsafeMutableBufferPointer { cross.q.forward(nb.baseAddress!, rows: n, into: $0.baseAddress!, segments: segments) }
            }
            q.withUnsafeBufferPointer { qp in ctx.withUnsafeMutableBufferPointer { cp in
                cross.attendEachRow(q: qp.baseAddress!, rows: n, ctx: cp.baseAddress!) { i, body in
                    let enc = states[i].encoded
                    enc.crossKeys[l].withUnsafeBufferPointer { kp in
                        enc.crossValues[l].withUnsafeBufferPointer { vp in
                            body(kp.baseAddress!, vp.baseAddress!, enc.length, nil)
                        }
                    }
                }
            }}
            ctx.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                cross.o.forward(cp.baseAddress!, rows: n, into: op.baseAddress!, segments: segments)
                Kernels.add(op.baseAddress!, into: hidden, count: n * d)
            }}
            block.feedForwardResidual(hidden, rows: n, dModel: d, segments: segments)
        }
        for i in 0..<n { states[i].length += 1 }
        normed.withUnsafeMutableBufferPointer { nb in
            finalLayerNorm.forward(hidden, rows: n, into: nb.baseAddress!)
            hidden.update(from: nb.baseAddress!, count: n * d)
        }
    }
}
