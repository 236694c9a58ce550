import Testing
import Rouge

/// rouge_score's `score(target, prediction)` takes the reference first; swapping them swaps
/// precision and recall, an error no symmetric F-measure would reveal.
struct ArgumentOrderTests {
    @Test func precisionIsOverThePredictionAndRecallOverTheReference() {
        let s = RougeScorer().score(prediction: "the cat", reference: "the cat sat on the mat")
        #expect(s.rouge1 == RougeScore(precision: 1, recall: 2.0 / 6, fmeasure: 2 * 1 * (2.0 / 6) / (1 + 2.0 / 6)))
        #expect(s.rouge2.precision == 1 && s.rouge2.recall == 1.0 / 5)
        #expect(s.rougeL.precision == 1 && s.rougeL.recall == 2.0 / 6)
        #expect(s.rougeLsum.precision == 1 && s.rougeLsum.recall == 2.0 / 6)
    }

    /// With use_stemmer=false, inflected forms no longer match.
    @Test func stemmingCanBeTurnedOff() {
        let stemmed = RougeScorer(useStemmer: true).score(prediction: "cats running", reference: "cat runs")
        let plain = RougeScorer(useStemmer: false).score(prediction: "cats running", reference: "cat runs")
        #expect(stemmed.rouge1.fmeasure == 1)
        #expect(plain.rouge1.fmeasure == 0)
    }
}
