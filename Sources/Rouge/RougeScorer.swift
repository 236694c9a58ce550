/// ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of one prediction against one reference, equal to
/// rouge_score 0.1.2's `RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
/// use_stemmer=True).score(reference, prediction)`. Note rouge_score takes the reference (its
/// "target") first; here both are named. Precision is relative to the prediction, recall to the
/// reference.
public struct RougeScorer: Sendable {
    public let tokenizer: RougeTokenizer

    public init(useStemmer: Bool = true) {
        tokenizer = RougeTokenizer(useStemmer: useStemmer)
    }

    public func score(prediction: String, reference: String) -> RougeScores {
        var vocabulary: [String: Int] = [:]
        func intern(_ lines: [[String]]) -> [[Int]] {
            lines.map { line in
                line.map { token in
                    if let id = vocabulary[token] { return id }
                    let id = vocabulary.count
                    vocabulary[token] = id
                    return id
                }
            }
        }
        let predictionLines = intern(tokenizer.tokenizeLines(prediction))
        let referenceLines = intern(tokenizer.tokenizeLines(reference))
        let predictionTokens = predictionLines.flatMap { $0 }
        let referenceTokens = referenceLines.flatMap { $0 }
        let vocabularySize = vocabulary.count

        return RougeScores(
            rouge1: Self.ngramScore(predictionTokens, referenceTokens, n: 1, vocabularySize: vocabularySize),
            rouge2: Self.ngramScore(predictionTokens, referenceTokens, n: 2, vocabularySize: vocabularySize),
            rougeL: Self.lcsScore(predictionTokens, referenceTokens),
            rougeLsum: Self.summaryLevelLCSScore(predictionLines, referenceLines, vocabularySize: vocabularySize))
    }

    /// Clipped n-gram overlap. rouge_score divides by max(count, 1), so an empty side scores 0.
    static func ngramScore(_ prediction: [Int], _ reference: [Int], n: Int, vocabularySize: Int) -> RougeScore {
        let predictionCounts = ngramCounts(prediction, n: n, vocabularySize: vocabularySize)
        let referenceCounts = ngramCounts(reference, n: n, vocabularySize: vocabularySize)
        var overlap = 0
        for (ngram, count) in referenceCounts {
            overlap += min(count, predictionCounts[ngram, default: 0])
        }
        return RougeScore(overlap: overlap,
                          predictionCount: max(prediction.count - n + 1, 1),
                          referenceCount: max(reference.count - n + 1, 1))
    }

    /// Each n-gram packed into one integer in base `vocabularySize` (ids are below it). Only
    /// the n used by ROUGE-1 and ROUGE-2 are needed, and vocabularySize^2 cannot overflow.
    static func ngramCounts(_ tokens: [Int], n: Int, vocabularySize: Int) -> [Int: Int] {
        precondition(n == 1 || n == 2, "only rouge1 and rouge2 are computed")
        var counts: [Int: Int] = [:]
        guard tokens.count >= n else { return counts }
        for start in 0...(tokens.count - n) {
            var key = 0
            for k in 0..<n { key = key * vocabularySize + tokens[start + k] }
            counts[key, default: 0] += 1
        }
        return counts
    }

    /// rougeL: LCS of the whole token sequences.
    static func lcsScore(_ prediction: [Int], _ reference: [Int]) -> RougeScore {
        guard !prediction.isEmpty, !reference.isEmpty else { return .zero }
        return RougeScore(overlap: LCS.length(reference, prediction),
                          predictionCount: prediction.count, referenceCount: reference.count)
    }

    /// rougeLsum (rouge_score's `_summary_level_lcs`, ROUGE-1.5.5's summary-level LCS): for each
    /// reference line, the union of its LCS positions with every prediction line; a token then
    /// counts as a hit only while both texts still have an unused occurrence of it, so a word is
    /// never credited more often than it appears on either side.
    static func summaryLevelLCSScore(_ prediction: [[Int]], _ reference: [[Int]], vocabularySize: Int) -> RougeScore {
        let predictionCount = prediction.reduce(0) { $0 + $1.count }
        let referenceCount = reference.reduce(0) { $0 + $1.count }
        guard predictionCount > 0, referenceCount > 0 else { return .zero }

        var unusedInPrediction = [Int](repeating: 0, count: vocabularySize)
        var unusedInReference = [Int](repeating: 0, count: vocabularySize)
        for line in prediction { for token in line { unusedInPrediction[token] += 1 } }
        for line in reference { for token in line { unusedInReference[token] += 1 } }

        var hits = 0
        for referenceLine in reference {
            var inUnion = [Bool](repeating: false, count: referenceLine.count)
            for predictionLine in prediction {
                for index in LCS.referenceIndices(referenceLine, predictionLine) { inUnion[index] = true }
            }
            for (index, token) in referenceLine.enumerated() where inUnion[index] {
                if unusedInPrediction[token] > 0 && unusedInReference[token] > 0 {
                    hits += 1
                    unusedInPrediction[token] -= 1
                    unusedInReference[token] -= 1
                }
            }
        }
        return RougeScore(overlap: hits, predictionCount: predictionCount, referenceCount: referenceCount)
    }
}
