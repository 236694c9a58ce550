import Foundation
import Numerics

/// One request's decoding, as a state machine a scheduler steps: each step it offers the
/// hypotheses that need a forward pass (`pending`), the scheduler runs them in a shared batch
/// with other requests' hypotheses, and hands back one logits row per hypothesis (`advance`).
/// Greedy and sampling keep one hypothesis; beam search keeps `num_beams`, and follows
/// transformers 5's beam search step for step so the chosen tokens are the same.
public final class GenerationTask: @unchecked Sendable {
    public let parameters: GenerationParameters
    private let processing: LogitsProcessing
    private let eos: Int32
    private let maxLength: Int          // decoder length limit, start token included
    private var rng: SplitMix64

    /// Greedy/sampling: the single hypothesis. Beam: the running beams.
    private var beams: [Beam]
    private var finished: [Finished] = []
    private var heuristicUnsatisfied = true
    private var curLen = 1
    public private(set) var isFinished = false
    public private(set) var output: [Int32] = []
    /// Set when a step's logits were not finite (an adapter or input drove activations past
    /// Float32): the task stops rather than pick token 0 from a row of NaNs.
    public private(set) var nonFiniteLogits = false

    struct Beam {
        var tokens: [Int32]     // decoder start token first
        var score: Float
        var state: DecoderState
    }
    struct Finished {
        var tokens: [Int32]
        var score: Float
        var done: Bool
    }

    public init(encoded: EncodedSequence, model: T5ForConditionalGeneration, parameters: GenerationParameters) {
        self.parameters = parameters
        let config = model.config
        eos = config.eosTokenID
        processing = LogitsProcessing(parameters: parameters, eos: config.eosTokenID)
        maxLength = 1 + parameters.maxNewTokens
        rng = SplitMix64(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
        let start = config.decoderStartTokenID
        let state = model.makeDecoderState(encoded, reserve: maxLength)
        // transformers starts beams 1..n-1 at -1e9, so only beam 0 can contribute at step one:
        // it is the only one we run.
        beams = [Beam(tokens: [start], score: 0, state: state)]
        if parameters.numBeams > 1 {
            finished = Array(repeating: Finished(tokens: [start], score: -1e9, done: false), count: parameters.numBeams)
        }
    }

    /// Greedy and sampling: the token the last step chose (EOS included), for streaming it out
    /// as soon as it exists. nil for beam search, whose beams can still be overtaken until the
    /// end, and before the first step.
    public var newestToken: Int32? {
        guard parameters.numBeams == 1, curLen > 1, !nonFiniteLogits else { return nil }
        return isFinished ? output.last : beams.first?.tokens.last
    }

    /// Tokens generated so far (what a cancelled request had produced when it stopped).
    public var generatedCount: Int { isFinished ? output.count : curLen - 1 }

    /// Decoder states and the token each must be fed next.
    public var pending: [(state: DecoderState, token: Int32)] {
        isFinished ? [] : beams.map { ($0.state, $0.tokens.last!) }
    }

    /// `pending`, handing the states over: the task keeps no reference to their caches until
    /// `advance` returns them, so the step appends to each cache in place instead of copying
    /// it (copy-on-write) for every layer of every step.
    public func takePending() -> [(state: DecoderState, token: Int32)] {
        let taken = pending
        for i in beams.indices { beams[i].state.releaseCaches() }
        return taken
    }

    /// Takes back the advanced states (same order as `pending`) and their logits (n, vocab).
    public func advance(states: [DecoderState], logits: UnsafeMutablePointer<Float>, vocab: Int) {
        precondition(states.count == beams.count)
        for i in beams.indices { beams[i].state = states[i] }
        for i in beams.indices where !Self.allFinite(logits + i * vocab, count: vocab) {
            nonFiniteLogits = true
            isFinished = true
            output = []
            beams = []
            return
        }
        if parameters.numBeams > 1 {
            beamStep(logits, vocab: vocab)
        } else {
            singleStep(logits, vocab: vocab)
        }
    }

    private func singleStep(_ row: UnsafeMutablePointer<Float>, vocab: Int) {
        processing.apply(row, vocab: vocab, tokens: beams[0].tokens)
        let next: Int32
        if parameters.doSample {
            next = processing.sample(row, vocab: vocab, rng: &rng)
        } else {
            var best = 0
            for i in 1..<vocab where row[i] > row[best] { best = i }
            next = Int32(best)
        }
        accept(next)
    }

    private func accept(_ next: Int32) {
        beams[0].tokens.append(next)
        curLen += 1
        if (next == eos && !parameters.ignoreEOS) || curLen >= maxLength { finish(beams[0].tokens) }
    }

    /// When this step's choice needs only the largest entry of the logits row (greedy, one
    /// hypothesis, processors that only mask): the tokens masked out of it. nil when the whole
    /// row is needed (sampling, beams, a repetition penalty) or the task is finished.
    public var greedyMask: [Int32]? {
        guard !isFinished, parameters.numBeams == 1, !parameters.doSample, processing.onlyMasks else { return nil }
        return processing.maskedTokens(beams[0].tokens)
    }

    /// `advance` for a task whose `greedyMask` was taken: the advanced state and the first
    /// unmasked token with the largest logit, which is what `advance` would pick from the row.
    public func advance(state: DecoderState, greedyToken: Int32) {
        precondition(beams.count == 1)
        beams[0].state = state
        accept(greedyToken)
    }

    private func finish(_ tokens: [Int32]) {
        output = Array(tokens.dropFirst())
        isFinished = true
        beams = []
    }

    private struct Candidate {
        var beam: Int
        var token: Int32
        var score: Float
    }

    private func beamStep(_ logits: UnsafeMutablePointer<Float>, vocab: Int) {
        let nb = parameters.numBeams
        let keep = 2 * nb   // max(2, 1 + number of EOS ids) * num_beams
        var candidates: [Candidate] = []
        var logProbs = [Float](repeating: 0, count: vocab)
        for (b, beam) in beams.enumerated() {
            logProbs.withUnsafeMutableBufferPointer { lp in
                Kernels.logSoftmax(logits + b * vocab, count: vocab, into: lp.baseAddress!)
                processing.apply(lp.baseAddress!, vocab: vocab, tokens: beam.tokens)
                for t in 0..<vocab { lp[t] += beam.score }
                candidates.append(contentsOf: Self.topK(lp, k: keep).map { Candidate(beam: b, token: Int32($0), score: lp[$0]) })
            }
        }
        candidates.sort { $0.score > $1.score || ($0.score == $1.score && ($0.beam, $0.token) < ($1.beam, $1.token)) }
        candidates = Array(candidates.prefix(keep))

        let hits = candidates.map { ($0.token == eos && !parameters.ignoreEOS) || curLen + 1 >= maxLength }
        // Running beams for the next step: the best candidates that did not just stop.
        let runningScores = zip(candidates, hits).map { c, hit in c.score + (hit ? -1.0e9 : 0) }
        let nextRunning = Self.stableTop(runningScores, k: nb)
        let allDone = finished.allSatisfy(\.done)
        let penalty = Float(pow(Double(curLen), Double(parameters.lengthPenalty)))
        var merged = finished
        for (k, c) in candidates.enumerated() {
            let justFinished = hits[k] && k < nb
            var s = c.score / penalty
            if allDone && parameters.earlyStopping == .always { s += -1.0e9 }
            if !heuristicUnsatisfied { s += -1.0e9 }
            if !justFinished { s += -1.0e9 }
            merged.append(Finished(tokens: beams[c.beam].tokens + [c.token], score: s, done: justFinished))
        }
        finished = Self.stableTop(merged.map(\.score), k: nb).map { merged[$0] }
        beams = nextRunning.map { k in
            let c = candidates[k]
            return Beam(tokens: beams[c.beam].tokens + [c.token], score: runningScores[k], state: beams[c.beam].state)
        }
        curLen += 1

        let bestLength = parameters.earlyStopping == .never && parameters.lengthPenalty > 0 ? maxLength - 1 : curLen - 1
        let bestPossible = beams[0].score / Float(pow(Double(bestLength), Double(parameters.lengthPenalty)))
        let minFinished = finished.map(\.score).min()!
        let improvable = finished.contains { bestPossible > ($0.done ? minFinished : -1.0e9) }
        heuristicUnsatisfied = heuristicUnsatisfied && improvable
        let allFinished = finished.allSatisfy(\.done)
        let goOn = heuristicUnsatisfied && !(allFinished && parameters.earlyStopping == .always) && !hits.allSatisfy { $0 }
        if !goOn { finish(finished[0].tokens) }
    }

    /// One pass over a logits row (vocab): x - x is 0 for every finite x and NaN otherwise.
    static func allFinite(_ row: UnsafePointer<Float>, count: Int) -> Bool {
        var acc: Float = 0
        for i in 0..<count { acc += row[i] - row[i] }
        return acc == 0
    }

    /// Indices of the k largest values, ties broken by position (earlier first).
    static func stableTop(_ values: [Float], k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k))
    }

    /// Indices of the k largest entries of a row, in no particular order.
    static func topK(_ row: UnsafeMutableBufferPointer<Float>, k: Int) -> [Int] {
        var heap: [(Float, Int)] = []   // min-heap by value of the best k so far
        heap.reserveCapacity(k)
        for i in 0..<row.count {
            let v = row[i]
            if heap.count < k {
                heap.append((v, i))
                if heap.count == k { heap.sort { $0.0 < $1.0 } }
            } else if v > heap[0].0 {
                heap[0] = (v, i)
                var j = 0
                while j + 1 < heap.count && heap[j].0 > heap[j + 1].0 { heap.swapAt(j, j + 1); j += 1 }
            }
        }
        return heap.map(\.1)
    }
}
