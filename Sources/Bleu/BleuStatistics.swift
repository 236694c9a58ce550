/// BLEU's sufficient statistics for one segment or a whole corpus: they add up across segments,
/// and corpus BLEU is computed once from their sum (not as a mean of sentence scores).
public struct BleuStatistics: Sendable, Equatable {
    /// sacreBLEU's fixed maximum n-gram order.
    public static let maxOrder = 4

    public var hypothesisLength: Int
    /// The length of the reference closest in length to the hypothesis (the shorter on a tie).
    public var referenceLength: Int
    /// Clipped n-gram matches for n = 1...4 (index n-1).
    public var correct: [Int]
    /// Hypothesis n-grams for n = 1...4 (index n-1).
    public var total: [Int]

    public static let zero = BleuStatistics(hypothesisLength: 0, referenceLength: 0,
                                            correct: Array(repeating: 0, count: maxOrder), total: Array(repeating: 0, count: maxOrder))

    public init(hypothesisLength: Int, referenceLength: Int, correct: [Int], total: [Int]) {
        self.hypothesisLength = hypothesisLength
        self.referenceLength = referenceLength
        self.correct = correct
        self.total = total
    }

    /// One segment against its references, both given as 13a tokens. A hypothesis n-gram's matches
    /// are clipped by the largest count of that n-gram in any single reference.
    public init(hypothesis: [[UInt8]], references: [[[UInt8]]]) {
        var referenceCounts: [[[UInt8]]: Int] = [:]
        for reference in references {
            for (ngram, count) in Self.ngramCounts(reference) {
                referenceCounts[ngram] = max(referenceCounts[ngram] ?? 0, count)
            }
        }
        var correct = Array(repeating: 0, count: Self.maxOrder), total = correct
        for (ngram, count) in Self.ngramCounts(hypothesis) {
            total[ngram.count - 1] += count
            if let inReference = referenceCounts[ngram] { correct[ngram.count - 1] += min(count, inReference) }
        }
        self.init(hypothesisLength: hypothesis.count,
                  referenceLength: Self.closestLength(to: hypothesis.count, among: references.map(\.count)),
                  correct: correct, total: total)
    }

    public static func + (a: BleuStatistics, b: BleuStatistics) -> BleuStatistics {
        BleuStatistics(hypothesisLength: a.hypothesisLength + b.hypothesisLength,
                       referenceLength: a.referenceLength + b.referenceLength,
                       correct: zip(a.correct, b.correct).map(+), total: zip(a.total, b.total).map(+))
    }

    /// Every n-gram of order 1...4 with its count; an n-gram is its tokens, compared byte-wise.
    static func ngramCounts(_ tokens: [[UInt8]]) -> [[[UInt8]]: Int] {
        var counts: [[[UInt8]]: Int] = [:]
        for n in 1...maxOrder where n <= tokens.count {
            for start in 0...(tokens.count - n) {
                counts[Array(tokens[start..<(start + n)]), default: 0] += 1
            }
        }
        return counts
    }

    /// The reference length nearest the hypothesis length; ties go to the shorter reference.
    /// `SacreBleu` requires at least one reference per segment; an empty list would give 0.
    static func closestLength(to length: Int, among lengths: [Int]) -> Int {
        var best: Int?
        for candidate in lengths {
            guard let current = best else { best = candidate; continue }
            let d = abs(length - candidate), dBest = abs(length - current)
            if d < dBest || (d == dBest && candidate < current) { best = candidate }
        }
        return best ?? 0
    }
}
