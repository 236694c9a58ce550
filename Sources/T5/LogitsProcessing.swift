import Foundation

/// The logits processors transformers applies for these parameters, on one row of scores
/// (raw logits for greedy/sampling, log-probabilities for beam search). `tokens` is the
/// decoder sequence so far, decoder start token included, exactly what transformers passes.
struct LogitsProcessing {
    let parameters: GenerationParameters
    let eos: Int32

    func apply(_ scores: UnsafeMutablePointer<Float>, vocab: Int, tokens: [Int32]) {
        if parameters.repetitionPenalty != 1 {
            let p = parameters.repetitionPenalty
            for t in Set(tokens) where Int(t) < vocab {
                let s = scores[Int(t)]
                scores[Int(t)] = s < 0 ? s * p : s / p
            }
        }
        for t in maskedTokens(tokens) where Int(t) < vocab { scores[Int(t)] = -.infinity }
    }

    /// Whether `apply` only masks tokens (sets them to -inf) and leaves every other score as it
    /// is, so a greedy choice needs the largest unmasked score and nothing else.
    var onlyMasks: Bool { parameters.repetitionPenalty == 1 }

    /// The tokens `apply` sets to -inf after `tokens`: n-grams that would repeat, and the EOS
    /// while it is held back (min_new_tokens, or ignore_eos).
    func maskedTokens(_ tokens: [Int32]) -> [Int32] {
        var masked: [Int32] = []
        let n = parameters.noRepeatNgramSize
        if n > 0, tokens.count + 1 >= n { masked += bannedNgramTokens(tokens, n: n) }
        if parameters.ignoreEOS || tokens.count - 1 < parameters.minNewTokens { masked.append(eos) }
        return masked
    }

    /// Tokens that would complete an n-gram already present in `tokens`.
    func bannedNgramTokens(_ tokens: [Int32], n: Int) -> [Int32] {
        guard tokens.count >= n else { return [] }
        let prefix = tokens[(tokens.count - n + 1)...]
        var banned: [Int32] = []
        for start in 0...(tokens.count - n) where tokens[start..<(start + n - 1)].elementsEqual(prefix) {
            banned.append(tokens[start + n - 1])
        }
        return banned
    }

    /// Temperature, top-k and top-p as transformers' warpers do, then sample from the softmax.
    func sample(_ scores: UnsafeMutablePointer<Float>, vocab: Int, rng: inout SplitMix64) -> Int32 {
        if parameters.temperature != 1 {
            for i in 0..<vocab { scores[i] /= parameters.temperature }
        }
        var candidates = (0..<vocab).filter { scores[$0] > -.infinity }
        if candidates.isEmpty { return 0 }
        candidates.sort { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        if parameters.topK > 0 && parameters.topK < candidates.count {
            // Keeps every token tied with the k-th score, as `scores < topk(...)[..., -1]` does.
            let kth = scores[candidates[parameters.topK - 1]]
            candidates = candidates.filter { scores[$0] >= kth }
        }
        let maxScore = scores[candidates[0]]
        var probs = candidates.map { Double(expf(scores[$0] - maxScore)) }
        var total = probs.reduce(0, +)
        if parameters.topP < 1 {
            // Drop the tail whose cumulative probability (ascending) stays <= 1 - top_p; keep >= 1.
            var keep = candidates.count
            var tail = 0.0
            for j in stride(from: candidates.count - 1, to: 0, by: -1) {
                tail += probs[j] / total
                if tail <= Double(1 - parameters.topP) { keep = j } else { break }
            }
            candidates.removeSubrange(keep...)
            probs.removeSubrange(keep...)
            total = probs.reduce(0, +)
        }
        var u = rng.nextUnitDouble() * total
        for (j, p) in probs.enumerated() {
            u -= p
            if u < 0 { return Int32(candidates[j]) }
        }
        return Int32(candidates[candidates.count - 1])
    }
}

/// A small, fast, seedable generator (SplitMix64): reproducible sampling across platforms.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
