import Foundation
import Testing
import Rouge

/// Hand-written pairs (empty texts, punctuation, numbers, non-ASCII, repeats, multi-line text,
/// the stemmer's special cases) and seeded random multi-line pairs, against rouge_score. These
/// carry their texts, so they need no DialogSum text.
struct EdgeCaseParityTests {
    @Test func handWrittenCasesTokenizeLikeRougeScore() throws {
        let fixture = try ReferenceFixtures.load("edge-cases.json", as: ReferenceFixtures.EdgeCases.self)
        try #require(fixture.cases.count >= 40)
        let tokenizer = RougeTokenizer(useStemmer: true)
        for c in fixture.cases {
            #expect(tokenizer.tokenize(c.prediction) == c.predictionTokens, "\(c.name): prediction tokens")
            #expect(tokenizer.tokenize(c.reference) == c.referenceTokens, "\(c.name): reference tokens")
        }
    }

    @Test func handWrittenCasesScoreLikeRougeScore() throws {
        let fixture = try ReferenceFixtures.load("edge-cases.json", as: ReferenceFixtures.EdgeCases.self)
        try #require(fixture.cases.count >= 40)
        let scorer = RougeScorer()
        var maxError = 0.0
        for c in fixture.cases {
            let (error, mismatches) = ReferenceFixtures.compare(
                scorer.score(prediction: c.prediction, reference: c.reference), c.scores)
            maxError = max(maxError, error)
            #expect(mismatches.isEmpty, "\(c.name): \(mismatches.joined(separator: "; "))")
        }
        print("edge-case parity: \(fixture.cases.count) cases, max absolute error \(maxError)")
    }

    /// Random short multi-line texts over a 13-word vocabulary: many repeated tokens and lines,
    /// so rougeLsum's union of LCS positions (which depends on the LCS rouge_score's backtrack
    /// picks) and its clipped hit counts are exercised in ways natural text rarely reaches.
    @Test func generatedPairsScoreLikeRougeScore() throws {
        let fixture = try ReferenceFixtures.load("generated-pairs.json", as: ReferenceFixtures.GeneratedPairs.self)
        try #require(fixture.pairs.count == 400)
        let scorer = RougeScorer()
        var maxError = 0.0
        var failures = 0
        for (index, pair) in fixture.pairs.enumerated() {
            let (error, mismatches) = ReferenceFixtures.compare(
                scorer.score(prediction: pair.prediction, reference: pair.reference), pair.scores)
            maxError = max(maxError, error)
            if !mismatches.isEmpty {
                failures += 1
                if failures <= 5 {
                    Issue.record("pair \(index) \(String(reflecting: pair.prediction)) vs \(String(reflecting: pair.reference)): \(mismatches.joined(separator: "; "))")
                }
            }
        }
        print("generated-pair parity: \(fixture.pairs.count) pairs, max absolute error \(maxError)")
        #expect(failures == 0, "\(failures) of \(fixture.pairs.count) generated pairs differ from rouge_score")
    }
}
