import Numerics

/// The decoder T5Stack, run one token per hypothesis per step with a KV cache. Hypotheses of
/// different requests (and adapters) share each step's batched products.
public struct T5DecoderStack: Sendable {
    public let blocks: [T5Block]
    public let finalLayerNorm: T5LayerNorm   // decoder.final_layer_norm
    let config: T5Config
    /// Activation buffers reused across steps (RunState.swift).
    let runStates: RunStatePool

    init(_ ckpt: Checkpoint, config c: T5Config, sites: inout [String]) throws(ModelError) {
        var blocks: [T5Block] = []
        for i in 0..<c.numDecoderLayers {
            blocks.append(try T5Block(ckpt, "decoder.block.\(i)", config: c, isDecoder: true, index: i, sites: &sites))
        }
        self.blocks = blocks
        finalLayerNorm = try T5LayerNorm(ckpt, "decoder.final_layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        config = c
        runStates = RunStatePool(config: c)
    }

    /// hidden (n, d_model): row i is the embedded token of states[i]; on return, the final-norm
    /// output for each row. Appends each row's key/value to its state's cache. Activations live
    /// in `state` (the caller's RunState, with room for n rows).
    func step(_ hidden: UnsafeMutablePointer<Float>, states: inout [DecoderState], segments: RowSegments,
              state run: RunState) {
        let n = states.count, d = config.dModel, inner = config.innerDim, heads = config.numHeads
        guard n > 0 else { return }
        let table = blocks[0].selfAttention.relativeAttentionBias!
        // Per state: (heads, 1, position + 1), causal bias for the new query position.
        let biases: [[Float]] = states.map { s in
            positionBias(table: table, heads: heads, queryLength: 1, keyLength: s.length + 1,
                         queryOffset: s.length, bidirectional: false,
                         numBuckets: config.relativeAttentionNumBuckets, maxDistance: config.relativeAttentionMaxDistance)
        }
        let ld = 3 * inner
        for (l, block) in blocks.enumerated() {
            let attn = block.selfAttention
            block.selfAttentionNorm.forward(hidden, rows: n, into: run.normed)
            attn.qkv!.forward(run.normed, rows: n, into: run.qkv, segments: segments)   // (n, 3 * inner)
            for i in 0..<n {
                let row = UnsafeBufferPointer(start: run.qkv + i * ld, count: ld)
                states[i].selfKeys[l].append(contentsOf: row[inner..<(2 * inner)])
                states[i].selfValues[l].append(contentsOf: row[(2 * inner)..<ld])
            }
            attn.attendEachRow(q: run.qkv, qStride: ld, rows: n, ctx: run.ctx) { i, body in
                states[i].selfKeys[l].withUnsafeBufferPointer { kp in
                    states[i].selfValues[l].withUnsafeBufferPointer { vp in
                        biases[i].withUnsafeBufferPointer { bp in
                            body(kp.baseAddress!, vp.baseAddress!, states[i].length + 1, bp.baseAddress)
                        }
                    }
                }
            }
            attn.o.forward(run.ctx, rows: n, into: run.out, segments: segments)
            Kernels.add(run.out, into: hidden, count: n * d)

            let cross = block.crossAttention!
            block.crossAttentionNorm!.forward(hidden, rows: n, into: run.normed)
            cross.crossQuery!.forward(run.normed, rows: n, into: run.qkv, segments: segments)   // (n, inner)
            cross.attendEachRow(q: run.qkv, qStride: inner, rows: n, ctx: run.ctx) { i in
                let enc = states[i].encoded
                return (enc.crossKeys[l], enc.crossValues[l])
            }
            cross.o.forward(run.ctx, rows: n, into: run.out, segments: segments)
            Kernels.add(run.out, into: hidden, count: n * d)
            block.feedForwardResidual(hidden, rows: n, dModel: d, segments: segments, state: run)
        }
        for i in 0..<n { states[i].length += 1 }
        finalLayerNorm.forward(hidden, rows: n, into: run.normed)
        hidden.update(from: run.normed, count: n * d)
    }
}
