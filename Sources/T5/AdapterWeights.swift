import Numerics

/// One LoRA module's weights: y += scale * (x A^T) B^T. Stored as PEFT saves them.
public struct LowRankDelta: Sendable {
    public let a: Tensor   // (r, in_features)   lora_A.weight
    public let b: Tensor   // (out_features, r)  lora_B.weight
    public let scale: Float
    /// DoRA: m / ||W + scale·B·A|| per output row (out_features), fixed at load; nil for plain LoRA.
    public let magnitudeScale: [Float]?
    public var rank: Int { a.shape[0] }

    public init(a: Tensor, b: Tensor, scale: Float, magnitudeScale: [Float]? = nil) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1])
        precondition(magnitudeScale == nil || magnitudeScale!.count == b.shape[0])
        self.a = a; self.b = b; self.scale = scale; self.magnitudeScale = magnitudeScale
    }
}

/// What one request adds to the frozen base: low-rank deltas on some Linear layers and/or
/// soft-prompt rows prepended to the encoder input. The base model never changes; each
/// sequence in a batch carries its own (possibly nil) `AdapterWeights`, so rows of different
/// adapters can share one batched forward pass.
public final class AdapterWeights: Sendable {
    /// Indexed by `T5ForConditionalGeneration.linearSites`; nil where the adapter adds nothing.
    public let deltas: [LowRankDelta?]
    public let promptEmbeddings: Tensor?   // (num_virtual_tokens, d_model)
    /// IA3 vectors, indexed like `deltas` (empty when the adapter has none).
    public let ia3: [IA3Scale?]
    /// Prefix tuning: key/value rows ahead of every decoder self-attention cache.
    public let prefix: DecoderPrefix?

    public init(deltas: [LowRankDelta?], promptEmbeddings: Tensor?, ia3: [IA3Scale?] = [], prefix: DecoderPrefix? = nil) {
        self.deltas = deltas
        self.promptEmbeddings = promptEmbeddings
        self.ia3 = ia3
        self.prefix = prefix
    }

    public var promptLength: Int { promptEmbeddings?.shape[0] ?? 0 }

    /// A LoRA and a soft prompt stacked into one request adapter (PEFT cannot hold both at once).
    public static func combine(_ parts: [AdapterWeights]) -> AdapterWeights? {
        guard let first = parts.first else { return nil }
        if parts.count == 1 { return first }
        var deltas = [LowRankDelta?](repeating: nil, count: parts.map(\.deltas.count).max() ?? 0)
        var prompt: Tensor?
        var ia3 = [IA3Scale?](repeating: nil, count: parts.map(\.ia3.count).max() ?? 0)
        var prefix: DecoderPrefix?
        for part in parts {
            for (i, d) in part.deltas.enumerated() where d != nil {
                precondition(deltas[i] == nil, "two adapters target the same module")
                deltas[i] = d
            }
            for (i, v) in part.ia3.enumerated() where v != nil {
                precondition(ia3[i] == nil, "two IA3 adapters target the same module")
                ia3[i] = v
            }
            if let p = part.prefix {
                precondition(prefix == nil, "two prefixes in one request")
                prefix = p
            }
            if let p = part.promptEmbeddings {
                precondition(prompt == nil, "two soft prompts in one request")
                prompt = p
            }
        }
        return AdapterWeights(deltas: deltas, promptEmbeddings: prompt, ia3: ia3, prefix: prefix)
    }
}

/// Which rows of a packed activation buffer belong to which adapter. Consecutive rows with the
/// same adapter form one segment, so the low-rank products run once per adapter group (as in
/// S-LoRA/Punica) rather than once per row.
public struct RowSegments: Sendable {
    public struct Segment: Sendable {
        public let start: Int
        public let count: Int
        public let adapter: AdapterWeights?
    }
    public private(set) var segments: [Segment] = []
    public private(set) var rows = 0

    public init() {}

    public mutating func append(rows count: Int, adapter: AdapterWeights?) {
        guard count > 0 else { return }
        if let last = segments.last, last.adapter === adapter, last.start + last.count == rows {
            segments[segments.count - 1] = Segment(start: last.start, count: last.count + count, adapter: adapter)
        } else {
            segments.append(Segment(start: rows, count: count, adapter: adapter))
        }
        rows += count
    }

    public var hasAdapters: Bool { segments.contains { $0.adapter != nil } }
}
