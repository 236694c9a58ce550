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
    /// The whole stack in one call: the same layer code `EncoderPass` runs one layer at a time.
    func forward(_ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments) {
        let rows = offsets.last ?? 0
        guard rows > 0 else { return }
        let biases = positionBiases(offsets: offsets)
        runStates.with(rows: rows) { state in
            for index in blocks.indices {
                forwardLayer(index, hidden, offsets: offsets, segments: segments, biases: biases, state: state)
            }
            finalNorm(hidden, rows: rows, state: state)
        }
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
    /// `positionBiases(offsets:)`; `state` has room for at least `offsets.last` rows (its
    /// buffers are scratch within the layer).
    func forwardLayer(_ index: Int, _ hidden: UnsafeMutablePointer<Float>, offsets: [Int], segments: RowSegments,
                      biases: [[Float]], state: RunState) {
        guard (offsets.last ?? 0) > 0 else { return }
        blocks[index].encoderLayer(hidden, offsets: offsets, biases: biases, segments: segments, state: state)
    }

    /// encoder.final_layer_norm over hidden (rows, d_model), in place.
    func finalNorm(_ hidden: UnsafeMutablePointer<Float>, rows: Int, state: RunState) {
        guard rows > 0 else { return }
        finalLayerNorm.forward(hidden, rows: rows, into: state.normed)
        hidden.update(from: state.normed, count: rows * config.dModel)
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
    }

    /// Runs the next encoder layer (and, after the last one, the final layer norm).
    public func runNextLayer() {
        precondition(!isEncoderDone, "every encoder layer has run")
        let encoder = model.encoder
        let rows = rows
        let last = layersDone + 1 == layerCount
        hidden.withUnsafeMutableBufferPointer { h in
            encoder.runStates.with(rows: rows) { state in
                encoder.forwardLayer(layersDone, h.baseAddress!, offsets: offsets, segments: segments, biases: biases, state: state)
                if last { encoder.finalNorm(h.baseAddress!, rows: rows, state: state) }
            }
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
