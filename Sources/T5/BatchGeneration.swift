import Numerics

/// One generation request for `generate(_:)`.
public struct GenerationRequest: Sendable {
    public let ids: [Int32]
    public let adapter: AdapterWeights?
    public let parameters: GenerationParameters
    public init(ids: [Int32], adapter: AdapterWeights? = nil, parameters: GenerationParameters) {
        self.ids = ids
        self.adapter = adapter
        self.parameters = parameters
    }
}

extension T5ForConditionalGeneration {
    /// Runs one decoder step for every pending hypothesis of `tasks` as a single batch, and
    /// hands each task its rows. Hypotheses are ordered by adapter so the low-rank products
    /// run once per adapter group.
    public func step(_ tasks: [GenerationTask]) {
        var owners: [(task: Int, count: Int)] = []
        var states: [DecoderState] = []
        var tokens: [Int32] = []
        let order = tasks.indices.sorted { a, b in
            let ka = tasks[a].adapterKey, kb = tasks[b].adapterKey
            return ka != kb ? ka < kb : a < b
        }
        for t in order {
            var pending = tasks[t].takePending()
            guard !pending.isEmpty else { continue }
            owners.append((t, pending.count))
            for p in pending { tokens.append(p.token) }
            states.append(contentsOf: pending.map(\.state))
            pending.removeAll()
        }
        guard !states.isEmpty else { return }
        // Greedy tasks need only each row's largest logit, which an lm_head in planes finds
        // reading half its bytes; one task that needs whole rows takes the full product for all.
        // (Masks are asked for only where they can be used: not for bf16/int8 heads or beams.)
        let masks = lmHead.planes != nil && owners.allSatisfy({ $0.count == 1 }) ? owners.map { tasks[$0.task].greedyMask } : []
        let greedy = !masks.isEmpty && masks.allSatisfy { $0 != nil }
        var logits: [Float]
        switch decodeStep(&states, tokens: tokens, greedyMasks: greedy ? masks.map { $0! } : nil) {
        case .greedy(let chosen):
            for (row, owner) in owners.enumerated() { tasks[owner.task].advance(state: states[row], greedyToken: chosen[row]) }
            return
        case .logits(let all):
            logits = all
        }
        let vocab = config.vocabSize
        logits.withUnsafeMutableBufferPointer { l in
            var row = 0
            for (t, count) in owners {
                tasks[t].advance(states: Array(states[row..<(row + count)]), logits: l.baseAddress! + row * vocab, vocab: vocab)
                row += count
            }
        }
    }

    /// Generates for all requests together (one encoder batch, shared decoder steps) and
    /// returns each request's tokens after the decoder start token, EOS included if produced.
    public func generate(_ requests: [GenerationRequest]) -> [[Int32]] {
        let encoded = encode(requests.map { EncoderInput(ids: $0.ids, adapter: $0.adapter) })
        let tasks = zip(encoded, requests).map { GenerationTask(encoded: $0, model: self, parameters: $1.parameters) }
        while tasks.contains(where: { !$0.isFinished }) { step(tasks) }
        return tasks.map(\.output)
    }
}

extension GenerationTask {
    /// Groups hypotheses of one adapter together in a batch.
    var adapterKey: UInt {
        guard let a = pending.first?.state.encoded.adapter else { return 0 }
        return UInt(bitPattern: ObjectIdentifier(a).hashValue)
    }
}
