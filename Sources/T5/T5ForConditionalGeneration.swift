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

    /// How the cross-attention keys/values of each request are cached (`KVRows.Format(weights:)`
    /// unless a test or benchmark asks for another).
    public let crossCacheFormat: KVRows.Format

    public convenience init(directory: URL, weightFormat: WeightFormat = .fp32,
                            crossCacheFormat: KVRows.Format? = nil) throws(ModelError) {
        let config = try T5Config.load(directory: directory)
        try self.init(config: config, checkpoint: Checkpoint(directory: directory, weightFormat: weightFormat),
                      crossCacheFormat: crossCacheFormat)
    }

    public var weightFormat: WeightFormat { lmHead.format }

    /// Bytes of all weights as held in memory.
    public var weightBytes: Int {
        // A fused matrix counted once (its modules share it).
        var seen = Set<ObjectIdentifier>()
        let matrices = allLinears.map(\.weight).filter { seen.insert(ObjectIdentifier($0)).inserted }
        return shared.count * 4 + lmHead.bytes + matrices.reduce(0) { $0 + $1.bytes }
    }

    /// Every Linear module of both stacks, in site order.
    public var allLinears: [Linear] { (encoder.blocks + decoder.blocks).flatMap(\.linears) }

    public init(config c: T5Config, checkpoint ckpt: Checkpoint, crossCacheFormat: KVRows.Format? = nil) throws(ModelError) {
        config = c
        self.crossCacheFormat = crossCacheFormat ?? KVRows.Format(weights: ckpt.weightFormat)
        shared = try ckpt.tensor("shared.weight", shape: [c.vocabSize, c.dModel])
        ckpt.ignore("encoder.embed_tokens.weight")
        ckpt.ignore("decoder.embed_tokens.weight")
        var sites: [String] = []
        encoder = try T5EncoderStack(ckpt, config: c, sites: &sites)
        decoder = try T5DecoderStack(ckpt, config: c, sites: &sites)
        // A checkpoint that stores its own lm_head (FLAN, T5 v1.1) uses it, as transformers does
        // even though transformers 5 marks every T5 config as tied.
        // fp32 keeps it in two 16-bit planes (F32Planes): the same bytes, and a greedy step
        // reads half of them.
        if ckpt.contains("lm_head.weight") {
            lmHead = WeightMatrix(try ckpt.tensor("lm_head.weight", shape: [c.vocabSize, c.dModel]), format: ckpt.weightFormat,
                                  planar: true)
        } else {
            lmHead = WeightMatrix(shared, format: ckpt.weightFormat, planar: true)
        }
        try ckpt.checkAllClaimed()
        linearSites = sites
        var shapes = [(out: Int, in: Int)](repeating: (0, 0), count: sites.count)
        for l in (encoder.blocks + decoder.blocks).flatMap(\.linears) { shapes[l.site] = (l.outFeatures, l.inFeatures) }
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
        var crossKeys = [[KVRows]](repeating: [], count: inputs.count)
        var crossValues = crossKeys
        let cacheFormat = crossCacheFormat, heads = config.numHeads, dKV = config.dKV
        hidden.withUnsafeBufferPointer { h in
            // Every decoder layer's cross-attention k | v from one fused product, split per sequence.
            encoder.runStates.with(rows: rows) { state in
                let kv = state.qkv, ld = 2 * inner   // (rows, 2 * inner)
                for block in decoder.blocks {
                    block.crossAttention!.crossKeyValue!.forward(h.baseAddress!, rows: rows, into: kv, segments: segments)
                    // Packing into the cache format is per (sequence, keys | values): one unit each.
                    var packed = [KVRows?](repeating: nil, count: 2 * inputs.count)   // (sequence, k | v)
                    packed.withUnsafeMutableBufferPointer { out in
                        WorkerPool.parallelFor(out.count, grain: 1, minimumPerWorker: 1) { units in
                            for u in units {
                                let s = u / 2, L = offsets[s + 1] - offsets[s]
                                let start = kv + offsets[s] * ld + (u % 2) * inner
                                out[u] = KVRows(start, length: L, ld: ld, heads: heads, dKV: dKV, format: cacheFormat)
                            }
                        }
                    }
                    for s in 0..<inputs.count {
                        crossKeys[s].append(packed[2 * s]!)
                        crossValues[s].append(packed[2 * s + 1]!)
                    }
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
        switch decodeStep(&states, tokens: tokens, greedyMasks: nil) {
        case .logits(let logits): logits
        case .greedy: preconditionFailure("greedy tokens without greedy masks")
        }
    }

    /// What a decoder step hands back: every logit, or only each row's greedy token.
    public enum StepResult {
        case logits([Float])   // (n, vocab)
        case greedy([Int32])   // (n)
    }

    /// Feeds one token per hypothesis. With `greedyMasks` (one per row: the tokens its
    /// processors mask) and an lm_head in planes, returns each row's first largest unmasked
    /// logit's token without computing the logits (`F32Planes.greedyTokens`); otherwise, or when
    /// that finds a value that is not finite, the logits.
    public func decodeStep(_ states: inout [DecoderState], tokens: [Int32], greedyMasks: [[Int32]]?) -> StepResult {
        precondition(states.count == tokens.count && (greedyMasks?.count ?? states.count) == states.count)
        let n = states.count, d = config.dModel, vocab = config.vocabSize
        var segments = RowSegments()
        for s in states { segments.append(rows: 1, adapter: s.encoded.adapter) }
        return decoder.runStates.with(rows: n) { run in
            let h = run.hidden   // (n, d_model)
            embed(tokens, into: h)
            decoder.step(h, states: &states, segments: segments, state: run)
            if config.scaleDecoderOutputs {
                Kernels.scale(h, count: n * d, by: 1 / Float(d).squareRoot())
            }
            if let greedyMasks, let planes = lmHead.planes, let tokens = planes.greedyTokens(h, m: n, masked: greedyMasks) {
                return .greedy(tokens)
            }
            // (n, vocab): every element is written by the product.
            return .logits([Float](unsafeUninitializedCapacity: n * vocab) { buffer, count in
                lmHead.multiply(h, m: n, into: buffer.baseAddress!)
                count = n * vocab
            })
        }
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
