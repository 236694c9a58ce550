/// Decoding settings, named and defaulted like transformers' GenerationConfig.
public struct GenerationParameters: Sendable, Equatable {
    public enum EarlyStopping: String, Sendable { case heuristic, always, never }

    public var maxNewTokens = 64
    public var minNewTokens = 0
    public var numBeams = 1
    public var lengthPenalty: Float = 1
    /// transformers' early_stopping: false -> .heuristic, true -> .always, "never" -> .never.
    public var earlyStopping: EarlyStopping = .heuristic
    public var doSample = false
    public var temperature: Float = 1
    public var topK = 50
    public var topP: Float = 1
    /// Seeds the sampler; the same seed and inputs give the same tokens.
    public var seed: UInt64?
    public var repetitionPenalty: Float = 1
    public var noRepeatNgramSize = 0
    /// Benchmarks force exactly `maxNewTokens` tokens by ignoring EOS.
    public var ignoreEOS = false

    public init() {}

    /// Every problem with these settings, as messages naming the field.
    public func problems(maxNewTokensCap: Int = 4096) -> [String] {
        var p: [String] = []
        if maxNewTokens < 1 || maxNewTokens > maxNewTokensCap { p.append("max_new_tokens must be between 1 and \(maxNewTokensCap)") }
        if minNewTokens < 0 || minNewTokens > maxNewTokens { p.append("min_new_tokens must be between 0 and max_new_tokens") }
        if numBeams < 1 || numBeams > 16 { p.append("num_beams must be between 1 and 16") }
        if doSample && numBeams > 1 { p.append("do_sample with num_beams > 1 (beam sampling) is not supported") }
        if !(temperature > 0) || !temperature.isFinite { p.append("temperature must be a positive number") }
        if topK < 0 { p.append("top_k must be >= 0") }
        if !(topP > 0 && topP <= 1) { p.append("top_p must be in (0, 1]") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite { p.append("repetition_penalty must be a positive number") }
        if noRepeatNgramSize < 0 { p.append("no_repeat_ngram_size must be >= 0") }
        if !lengthPenalty.isFinite { p.append("length_penalty must be a finite number") }
        return p
    }
}
