import Testing
import Rouge

/// meanFMeasures is the plain mean of per-pair F-measures (not rouge_score's bootstrap median).
struct MeanFMeasureTests {
    @Test func meanOfFMeasuresIgnoresPrecisionAndRecall() {
        let a = RougeScores(rouge1: RougeScore(precision: 1, recall: 0, fmeasure: 0.2),
                            rouge2: RougeScore(precision: 0, recall: 1, fmeasure: 0.4),
                            rougeL: RougeScore(precision: 1, recall: 1, fmeasure: 0.6),
                            rougeLsum: RougeScore(precision: 0, recall: 0, fmeasure: 0.8))
        let b = RougeScores(rouge1: RougeScore(precision: 0, recall: 0, fmeasure: 0.4),
                            rouge2: RougeScore(precision: 0, recall: 0, fmeasure: 0.0),
                            rougeL: RougeScore(precision: 0, recall: 0, fmeasure: 0.3),
                            rougeLsum: RougeScore(precision: 0, recall: 0, fmeasure: 1.0))
        let mean = meanFMeasures([a, b, b])
        #expect(abs(mean.rouge1 - (0.2 + 0.4 + 0.4) / 3) < 1e-15)
        #expect(abs(mean.rouge2 - 0.4 / 3) < 1e-15)
        #expect(abs(mean.rougeL - (0.6 + 0.3 + 0.3) / 3) < 1e-15)
        #expect(abs(mean.rougeLsum - (0.8 + 1.0 + 1.0) / 3) < 1e-15)
    }

    /// No pairs gives zeros, not NaN, which JSON could not carry.
    @Test func noScoresGiveZeros() {
        #expect(meanFMeasures([]) == RougeMeans(rouge1: 0, rouge2: 0, rougeL: 0, rougeLsum: 0))
    }
}
