import Foundation
import Numerics

/// One encoder input: token ids (with `</s>` already appended) and the request's adapter,
/// whose soft-prompt rows (if any) are prepended to the embedded ids as PEFT does.
public struct EncoderInput: Sendable {
    public let ids: [Int32]
    public let adapter: AdapterWeights?
    public init(ids: [Int32], adapter: AdapterWeights? = nil) {
        self.ids = ids
        self.adapter = adapter
    }
}

/// T5ForConditionalGeneration: shared embeddings, encoder and decoder stacks, and lm_head,
/// loaded from a Hugging Face checkpoint directory and never modified afterwards.
public final class T5ForConditionalGeneration: Sendable {
    public let config: T5Config
    public let shared: Tensor          // (vocab, d_model)  shared.weight
    public let encoder: T5EncoderStack
    public let decoder: T5DecoderStack
    public let lmHead: WeightMatrix    // (vocab, d_model)  lm_head.weight, or shared.weight when tied
    /// Checkpoint module path of every Linear (e.g. "decoder.block.3.layer.1.EncDecAttention.q"),
    /// indexed by `Linear.site`: the names PEFT adapters target.
    public let linearSites: [String]
    public let siteIndex: [String: Int]
    /// (out_features, in_features) of each Linear, indexed like `linearSites`.
    public let linearShapes: [(out: Int, in: Int)]

    public convenience init(directory: URL, weightFormat: WeightFormat = .fp32) throws(ModelError) {
        let config = try T5Config.load(directory: directory)
        try self.init(config: config, checkpoint: Checkpoint(directory: directory, weightFormat: weightFormat))
    }

    public var weightFormat: WeightFormat { lmHead.format }

    /// Bytes of all weights as held in memory.
    public var weightBytes: Int {
        let linears = (encoder.blocks + decoder.blocks).flatMap { b -> [Linear] in
            var l = [b.selfAttention.q, b.selfAttention.k, b.selfAttention.v, b.selfAttention.o, b.feedForward.wo]
            if let x = b.crossAttention { l += [x.q, x.k, x.v, x.o] }
            return l + [b.feedForward.wi, b.feedForward.wi0, b.feedForward.wi1].compactMap { $0 }
        }
        return shared.count * 4 + lmHead.bytes + linears.reduce(0) { $0 + $1.weight.bytes }
    }

    public init(config c: T5Config, checkpoint ckpt: Checkpoint) throws(ModelError) {
        config = c
        shared = try ckpt.tensor("shared.weight", shape: [c.vocabSize, c.dModel])
        ckpt.ignore("encoder.embed_tokens.weight")
        ckpt.ignore("decoder.embed_tokens.weight")
        var sites: [String] = []
        encoder = try T5EncoderStack(ckpt, config: c, sites: &sites)
        decoder = try T5DecoderStack(ckpt, config: c, sites: &sites)
        // A checkpoint that stores its own lm_head (FLAN, T5 v1.1) uses it, as transformers does
        // even though transformers 5 marks every T5 config as tied.
        if ckpt.contains("lm_head.weight") {
            lmHead = WeightMatrix(try ckpt.tensor("lm_head.weight", shape: [c.vocabSize, c.dModel]), format: ckpt.weightFormat)
        } else {
            lmHead = WeightMatrix(shared, format: ckpt.weightFormat)
        }
        try ckpt.checkAllClaimed()
        linearSites = sites
        var shapes = [(out: Int, in: Int)](repeating: (0, 0), count: sites.count)
        for block in encoder.blocks + decoder.blocks {
            var linears = [block.selfAttention.q, block.selfAttention.k, block.selfAttention.v, block.selfAttention.o,
                           block.feedForward.wo]
            if let x = block.crossAttention { linears += [x.q, x.k, x.v, x.o] }
            linears += [block.feedForward.wi, block.feedForward.wi0, block.feedForward.wi1].compactMap { $0 }
            for l in linears { shapes[l.site] = (l.outFeatures, l.inFeatures) }
        }
        linearShapes = shapes
        siteIndex = Dictionary(uniqueKeysWithValues: sites.enumerated().map { ($1, $0) })
    }

    public func linearShape(_ site: Int) -> (out: Int, in: Int) { linearShapes[site] }

    /// Runs the encoder over a packed batch and precomputes every decoder layer's cross-attention
    /// keys/values per sequence. (`EncoderPass` runs the same work one layer at a time.)
    public func encode(_ inputs: [EncoderInput]) -> [EncodedSequence] {
        EncoderPass(model: self, inputs: inputs).finish()
    }

    /// Every decoder layer's cross-attention keys/values for each sequence of an encoded packed
    /// batch: hidden (rows, d_model), sequence s at rows offsets[s]..<offsets[s+1].
    func crossAttentionCaches(_ hidden: [Float], offsets: [Int], segments: RowSegments,
                              inputs: [EncoderInput]) -> [EncodedSequence] {
        let inner = config.innerDim
        let rows = offsets.last!
        var crossKeys = [[[Float]]](repeating: [], count: inputs.count)
        var crossValues = crossKeys
        var kv = [Float](repeating: 0, count: rows * inner)   // (rows, inner)
        for block in decoder.blocks {
            let cross = block.crossAttention!
            for (linear, isKey) in [(cross.k, true), (cross.v, false)] {
                hidden.withUnsafeBufferPointer { h in kv.withUnsafeMutableBufferPointer { o in
                    linear.forward(h.baseAddress!, rows: rows, into: o.baseAddress!, segments: segments)
                }}
                for s in 0..<inputs.count {
                    let slice = Array(kv[(offsets[s] * inner)..<(offsets[s + 1] * inner)])
                    if isKey { crossKeys[s].append(slice) } else { crossValues[s].append(slice) }
                }
            }
        }
        return inputs.indices.map { s in
            EncodedSequence(adapter: inputs[s].adapter, length: offsets[s + 1] - offsets[s],
                            crossKeys: crossKeys[s], crossValues: crossValues[s])
        }
    }

    /// A fresh hypothesis for an encoded sequence, with cache room for `reserve` tokens.
    public func makeDecoderState(_ encoded: EncodedSequence, reserve: Int = 64) -> DecoderState {
        DecoderState(encoded: encoded, layers: config.numDecoderLayers, reserve: reserve, inner: config.innerDim)
    }

    /// Feeds one token per hypothesis and returns logits (n, vocab), row i for states[i].
    public func decodeStep(_ states: inout [DecoderState], tokens: [Int32]) -> [Float] {
        precondition(states.count == tokens.count)
        let n = states.count, d = config.dModel, vocab = config.vocabSize
        var segments = RowSegments()
        for s in states { segments.append(rows: 1, adapter: s.encoded.adapter) }
        var hidden = [Float](repeating: 0, count: n * d)   // (n, d_model)
        var logits = [Float](repeating: 0, count: n * vocab)   // (n, vocab)
        hidden.withUnsafeMutableBufferPointer { h in
            embed(tokens, into: h.baseAddress!)
            decoder.step(h.baseAddress!, states: &states, segments: segments)
            if config.scaleDecoderOutputs {
                Kernels.scale(h.baseAddress!, count: n * d, by: 1 / Float(d).squareRoot())
            }
            logits.withUnsafeMutableBufferPointer { l in lmHead.multiply(h.baseAddress!, m: n, into: l.baseAddress!) }
        }
        return logits
    }

    /// Rows of `shared` for each id; ids outside the vocabulary are a caller bug (validated upstream).
    func embed(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) {
        let d = config.dModel
        shared.storage.withUnsafeBufferPointer { e in
            for (i, id) in ids.enumerated() {
                precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) outside the vocabulary")
                (out + i * d).update(from: e.baseAddress! + Int(id) * d, count: d)
            }
        }
    }
}
