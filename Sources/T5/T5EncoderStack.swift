import Numerics

/// The encoder T5Stack: bidirectional self-attention over each sequence of a packed batch.
/// Sequences are packed back to back (no padding), which is exactly what an attention mask
/// over padded rows computes, without the wasted rows.
public struct T5EncoderStack: Sendable {
    public let blocks: [T5Block]
    public let finalLayerNorm: T5LayerNorm   // encoder.final_layer_norm
    let config: T5Config
    /// Activation buffers reused across passes (RunState.swift).
    let runStates: RunStatePool

    init(_ ckpt: Checkpoint, config c: T5Config, sites: inout [String]) throws(ModelError) {
        var blocks: [T5Block] = []
        for i in 0..<c.numLayers {
            blocks.append(try T5Block(ckpt, "encoder.block.\(i)", config: c, isDecoder: false, index: i, sites: &sites))
        }
        self.blocks = blocks
        finalLayerNorm = try T5LayerNorm(ckpt, "encoder.final_layer_norm", dim: c.dModel, eps: c.layerNormEpsilon)
        config = c
        runStates = RunStatePool(config: c)
    }

    /// hidden (total_rows, d_model), sequence s at rows offsets[s]..<offsets[s+1]; in place.
    func forward(_ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments) {
        let d = config.dModel, heads = config.numHeads
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
        runStates.with(rows: rows) { state in
            for block in blocks { block.encoderLayer(hidden, offsets: offsets, biases: biases, segments: segments, state: state) }
            finalLayerNorm.forward(hidden, rows: rows, into: state.normed)
            hidden.update(from: state.normed, count: rows * d)
        }
    }
}
