import Testing
@testable import T5

@Suite struct LogitsProcessingTests {
    func run(_ p: GenerationParameters, _ scores: [Float], tokens: [Int32]) -> [Float] {
        var s = scores
        s.withUnsafeMutableBufferPointer { LogitsProcessing(parameters: p, eos: 1).apply($0.baseAddress!, vocab: $0.count, tokens: tokens) }
        return s
    }

    @Test func repetitionPenaltyDividesPositivesMultipliesNegatives() {
        var p = GenerationParameters(); p.repetitionPenalty = 2
        let out = run(p, [4, -4, 4, -4], tokens: [0, 2, 3, 3])
        #expect(out == [2, -4, 2, -8])
    }

    @Test func noRepeatNgramBansCompletions() {
        var p = GenerationParameters(); p.noRepeatNgramSize = 2
        // Sequence 0 5 7 5: bigram (5,7) seen, last token 5 -> 7 banned.
        let out = run(p, [Float](repeating: 1, count: 9), tokens: [0, 5, 7, 5])
        #expect(out[7] == -.infinity)
        #expect(out.filter { $0 == -.infinity }.count == 1)
    }

    @Test func minNewTokensBlocksEOSUntilReached() {
        var p = GenerationParameters(); p.minNewTokens = 2
        #expect(run(p, [1, 1, 1], tokens: [0, 4])[1] == -.infinity)
        #expect(run(p, [1, 1, 1], tokens: [0, 4, 4])[1] == 1)
    }

    @Test func parameterProblemsNameTheField() {
        var p = GenerationParameters(); p.maxNewTokens = 0; p.topP = 1.5; p.numBeams = 2; p.doSample = true
        let problems = p.problems().joined(separator: "; ")
        #expect(problems.contains("max_new_tokens"))
        #expect(problems.contains("top_p"))
        #expect(problems.contains("beam sampling"))
    }

    @Test func samplingRespectsTopK() {
        var p = GenerationParameters(); p.doSample = true; p.topK = 1
        var rng = SplitMix64(seed: 7)
        var scores: [Float] = [0.1, 3, 0.2, 2.9]
        let token = scores.withUnsafeMutableBufferPointer { LogitsProcessing(parameters: p, eos: 1).sample($0.baseAddress!, vocab: 4, rng: &rng) }
        #expect(token == 1)
    }
}
