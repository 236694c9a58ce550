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
    /// The whole stack in one call: the same layer code `EncoderPass` runs one layer at a time.
    func forward(_ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments) {
        let rows = offsets.last ?? 0
        guard rows > 0 else { return }
        let biases = positionBiases(offsets: offsets)
        var scratch = EncoderScratch(rows: rows, config: config)
        for index in blocks.indices {
            forwardLayer(index, hidden, offsets: offsets, segments: segments, biases: biases, scratch: &scratch)
        }
        finalNorm(hidden, rows: rows, scratch: &scratch)
    }

    /// Per sequence: (heads, L, L), shared by every layer as in transformers.
    func positionBiases(offsets: [Int]) -> [[Float]] {
        let table = blocks[0].selfAttention.relativeAttentionBias!
        return (0..<(offsets.count - 1)).map { s in
            let L = offsets[s + 1] - offsets[s]
            return positionBias(table: table, heads: config.numHeads, queryLength: L, keyLength: L, queryOffset: 0,
                                bidirectional: true, numBuckets: config.relativeAttentionNumBuckets,
                                maxDistance: config.relativeAttentionMaxDistance)
        }
    }

    /// Block `index` over the packed rows: hidden (rows, d_model) in place; `biases` from
    /// `positionBiases(offsets:)`, `scratch` sized for at least `offsets.last` rows.
    func forwardLayer(_ index: Int, _ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments,
                      biases: [[Float]], scratch: inout EncoderScratch) {
        let d = config.dModel, inner = config.innerDim
        let rows = offsets.last ?? 0
        guard rows > 0 else { return }
        let block = blocks[index]
        let attn = block.selfAttention
        scratch.normed.withUnsafeMutableBufferPointer { n in
            block.selfAttentionNorm.forward(hidden, rows: rows, into: n.baseAddress!)
            scratch.q.withUnsafeMutableBufferPointer { attn.q.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
            scratch.k.withUnsafeMutableBufferPointer { attn.k.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
            scratch.v.withUnsafeMutableBufferPointer { attn.v.forward(n.baseAddress!, rows: rows, into: $0.baseAddress!, segments: segments) }
        }
        scratch.q.withUnsafeBufferPointer { qp in scratch.k.withUnsafeBufferPointer { kp in scratch.v.withUnsafeBufferPointer { vp in
            scratch.ctx.withUnsafeMutableBufferPointer { cp in
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
        scratch.ctx.withUnsafeBufferPointer { cp in scratch.out.withUnsafeMutableBufferPointer { op in
            attn.o.forward(cp.baseAddress!, rows: rows, into: op.baseAddress!, segments: segments)
            Kernels.add(op.baseAddress!, into: hidden, count: rows * d)
        }}
        block.feedForwardResidual(hidden, rows: rows, dModel: d, segments: segments)
    }

    /// encoder.final_layer_norm over hidden (rows, d_model), in place.
    func finalNorm(_ hidden: UnsafeMutablePointer<Float>, rows: Int, scratch: inout EncoderScratch) {
        guard rows > 0 else { return }
        scratch.normed.withUnsafeMutableBufferPointer { n in
            finalLayerNorm.forward(hidden, rows: rows, into: n.baseAddress!)
            hidden.update(from: n.baseAddress!, count: rows * config.dModel)
        }
    }
}

/// The buffers one encoder layer writes, allocated once per pass rather than once per layer.
struct EncoderScratch {
    var normed: [Float]   // (rows, d_model)
    var out: [Float]      // (rows, d_model)
    var q: [Float]        // (rows, inner)
    var k: [Float]        // (rows, inner)
    var v: [Float]        // (rows, inner)
    var ctx: [Float]      // (rows, inner)

    init(rows: Int, config: T5Config) {
        normed = [Float](repeating: 0, count: rows * config.dModel)
        out = normed
        q = [Float](repeating: 0, count: rows * config.innerDim)
        k = q; v = q; ctx = q
    }
}

/// A packed batch of encoder inputs run through the encoder one layer per `runNextLayer()`, so a
/// scheduler can run decoder steps for requests already generating between the layers of a long
/// prefill. T5's encoder attends both ways over the whole sequence, so a prefill can be split by
/// layer but never by position. Between stages, sequences whose clients left can be dropped
/// (`removeSequences`) and the rest of their prefill is never computed.
/// `T5ForConditionalGeneration.encode` runs the same stages back to back, so a stepped pass gives
/// exactly the whole-stack result.
public final class EncoderPass {
    let model: T5ForConditionalGeneration
    /// The sequences still in the pass, in packing order.
    public private(set) var inputs: [EncoderInput]
    private var offsets: [Int]
    private var segments = RowSegments()
    private var hidden: [Float]              // (rows, d_model)
    private var biases: [[Float]]            // per sequence: (heads, L, L)
    private var scratch: EncoderScratch
    /// Encoder layers already run (the final layer norm runs with the last one).
    public private(set) var layersDone = 0
    /// Encoder layers of the pass (the cross-attention caches follow, in `finish`).
    public var layerCount: Int { model.encoder.blocks.count }
    public var isEncoderDone: Bool { layersDone == layerCount }
    /// Packed rows still in the pass (soft-prompt rows included).
    public var rows: Int { offsets.last ?? 0 }

    /// Embeds every input (soft-prompt rows first, as PEFT prepends them); no layer runs yet.
    public init(model: T5ForConditionalGeneration, inputs: [EncoderInput]) {
        self.model = model
        self.inputs = inputs
        let d = model.config.dModel
        var offsets = [0]
        for input in inputs {
            let length = input.ids.count + (input.adapter?.promptLength ?? 0)
            precondition(length > 0, "empty encoder input")
            offsets.append(offsets.last! + length)
            segments.append(rows: length, adapter: input.adapter)
        }
        self.offsets = offsets
        let rows = offsets.last!
        hidden = [Float](repeating: 0, count: rows * d)
        hidden.withUnsafeMutableBufferPointer { h in
            for (s, input) in inputs.enumerated() {
                var row = offsets[s]
                if let prompt = input.adapter?.promptEmbeddings {
                    prompt.storage.withUnsafeBufferPointer { p in (h.baseAddress! + row * d).update(from: p.baseAddress!, count: p.count) }
                    row += prompt.shape[0]
                }
                model.embed(input.ids, into: h.baseAddress! + row * d)
            }
        }
        biases = rows > 0 ? model.encoder.positionBiases(offsets: offsets) : []
        scratch = EncoderScratch(rows: rows, config: model.config)
    }

    /// Runs the next encoder layer (and, after the last one, the final layer norm).
    public func runNextLayer() {
        precondition(!isEncoderDone, "every encoder layer has run")
        let encoder = model.encoder
        let rows = rows
        hidden.withUnsafeMutableBufferPointer { h in
            encoder.forwardLayer(layersDone, h.baseAddress!, offsets: offsets, segments: segments, biases: biases, scratch: &scratch)
            if layersDone + 1 == layerCount { encoder.finalNorm(h.baseAddress!, rows: rows, scratch: &scratch) }
        }
        layersDone += 1
    }

    /// Drops the sequences at `indices` (positions in `inputs`): their rows leave the packed batch,
    /// so later layers never compute them. The others' rows are unchanged, in the same order.
    public func removeSequences(at indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        let d = model.config.dModel
        var keptHidden: [Float] = []
        keptHidden.reserveCapacity(hidden.count)
        var keptInputs: [EncoderInput] = [], keptBiases: [[Float]] = [], keptOffsets = [0]
        var keptSegments = RowSegments()
        for s in inputs.indices where !indices.contains(s) {
            let length = offsets[s + 1] - offsets[s]
            keptHidden.append(contentsOf: hidden[(offsets[s] * d)..<(offsets[s + 1] * d)])
            keptInputs.append(inputs[s])
            keptBiases.append(biases[s])
            keptOffsets.append(keptOffsets.last! + length)
            keptSegments.append(rows: length, adapter: inputs[s].adapter)
        }
        hidden = keptHidden
        inputs = keptInputs
        biases = keptBiases
        offsets = keptOffsets
        segments = keptSegments
    }

    /// Runs whatever layers remain, then computes every decoder layer's cross-attention keys and
    /// values: one EncodedSequence per remaining input, in order.
    public func finish() -> [EncodedSequence] {
        while !isEncoderDone { runNextLayer() }
        return model.crossAttentionCaches(hidden, offsets: offsets, segments: segments, inputs: inputs)
    }
}
