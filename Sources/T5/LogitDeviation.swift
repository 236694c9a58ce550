/// How far one model's logits are from a reference model's on the same input, teacher-forced on
/// the reference's greedy tokens so both see identical prefixes. Used to state what bf16 and
/// int8 weight storage cost in accuracy against fp32.
public struct LogitDeviation: Sendable {
    /// Largest |logit - reference logit| over all steps and the whole vocabulary.
    public var maxAbsError: Float = 0
    /// Largest |reference logit|: the scale the error is relative to.
    public var logitScale: Float = 0
    /// Steps whose argmax equals the reference's.
    public var top1Matches = 0
    public var steps = 0

    public var relativeError: Float { maxAbsError / max(logitScale, 1e-30) }
}

extension T5ForConditionalGeneration {
    /// This model's logits against `reference`'s for `steps` greedy steps of `reference` on `ids`.
    public func logitDeviation(from reference: T5ForConditionalGeneration, ids: [Int32], steps: Int) -> LogitDeviation {
        precondition(config.vocabSize == reference.config.vocabSize, "models of different vocabularies")
        var states = [makeDecoderState(encode([EncoderInput(ids: ids)])[0], reserve: steps)]
        var referenceStates = [reference.makeDecoderState(reference.encode([EncoderInput(ids: ids)])[0], reserve: steps)]
        var token = config.decoderStartTokenID
        var result = LogitDeviation()
        for _ in 0..<steps {
            let logits = decodeStep(&states, tokens: [token])
            let expected = reference.decodeStep(&referenceStates, tokens: [token])
            var best = 0, bestExpected = 0
            for i in expected.indices {
                result.maxAbsError = max(result.maxAbsError, abs(logits[i] - expected[i]))
                result.logitScale = max(result.logitScale, abs(expected[i]))
                if logits[i] > logits[best] { best = i }
                if expected[i] > expected[bestExpected] { bestExpected = i }
            }
            if best == bestExpected { result.top1Matches += 1 }
            result.steps += 1
            token = Int32(bestExpected)
        }
        return result
    }
}
