/// One ROUGE measure for one prediction/reference pair.
public struct RougeScore: Sendable, Equatable, Codable {
    public var precision: Double
    public var recall: Double
    public var fmeasure: Double

    public init(precision: Double, recall: Double, fmeasure: Double) {
        self.precision = precision
        self.recall = recall
        self.fmeasure = fmeasure
    }

    /// rouge_score reports all-zero scores, never NaN, when nothing can match (empty texts).
    public static let zero = RougeScore(precision: 0, recall: 0, fmeasure: 0)

    /// Built from counts so that every division happens exactly as in rouge_score: Python's
    /// `int / int` is the correctly rounded quotient, as is `Double(a) / Double(b)` for counts
    /// below 2^53, and `2 * p * r / (p + r)` is evaluated in Python's left-to-right order, so the
    /// results are identical to the last bit.
    init(overlap: Int, predictionCount: Int, referenceCount: Int) {
        let precision = Double(overlap) / Double(predictionCount)
        let recall = Double(overlap) / Double(referenceCount)
        self.init(precision: precision, recall: recall, fmeasure: fMeasure(precision, recall))
    }
}

/// scoring.fmeasure: the harmonic mean, and 0 (not NaN) when both inputs are 0.
func fMeasure(_ precision: Double, _ recall: Double) -> Double {
    precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
}

/// The four measures the service and the evaluation report, as rouge_score's
/// `RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)` computes them.
public struct RougeScores: Sendable, Equatable, Codable {
    public var rouge1: RougeScore
    public var rouge2: RougeScore
    public var rougeL: RougeScore
    public var rougeLsum: RougeScore

    public init(rouge1: RougeScore, rouge2: RougeScore, rougeL: RougeScore, rougeLsum: RougeScore) {
        self.rouge1 = rouge1
        self.rouge2 = rouge2
        self.rougeL = rougeL
        self.rougeLsum = rougeLsum
    }

    /// Only the F-measures are reported per pair (as Hugging Face evaluate's "rouge" does).
    public var fmeasures: RougeMeans {
        RougeMeans(rouge1: rouge1.fmeasure, rouge2: rouge2.fmeasure,
                   rougeL: rougeL.fmeasure, rougeLsum: rougeLsum.fmeasure)
    }
}

/// An F-measure per ROUGE type: the mean over a set of pairs (`meanFMeasures`), and also one
/// pair's F-measures in reports, which show only F-measures.
public struct RougeMeans: Sendable, Equatable, Codable {
    public var rouge1: Double
    public var rouge2: Double
    public var rougeL: Double
    public var rougeLsum: Double

    public init(rouge1: Double, rouge2: Double, rougeL: Double, rougeLsum: Double) {
        self.rouge1 = rouge1
        self.rouge2 = rouge2
        self.rougeL = rougeL
        self.rougeLsum = rougeLsum
    }
}

/// The plain mean of per-pair F-measures. Hugging Face evaluate's default aggregation bootstraps
/// 1000 random resamples and reports their median, which changes from run to run; the plain mean
/// is what that estimates and is reproducible. Summed in input order, as a Python `sum` would.
/// An empty input gives zeros rather than NaN so a report never carries a non-JSON number.
public func meanFMeasures(_ scores: [RougeScores]) -> RougeMeans {
    guard !scores.isEmpty else { return RougeMeans(rouge1: 0, rouge2: 0, rougeL: 0, rougeLsum: 0) }
    var sum = RougeMeans(rouge1: 0, rouge2: 0, rougeL: 0, rougeLsum: 0)
    for s in scores {
        sum.rouge1 += s.rouge1.fmeasure
        sum.rouge2 += s.rouge2.fmeasure
        sum.rougeL += s.rougeL.fmeasure
        sum.rougeLsum += s.rougeLsum.fmeasure
    }
    let n = Double(scores.count)
    return RougeMeans(rouge1: sum.rouge1 / n, rouge2: sum.rouge2 / n,
                      rougeL: sum.rougeL / n, rougeLsum: sum.rougeLsum / n)
}
