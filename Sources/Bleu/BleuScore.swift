import Foundation

/// A BLEU score on sacreBLEU's 0-100 scale, with the parts sacreBLEU reports next to it.
public struct BleuScore: Sendable, Equatable {
    public var score: Double
    /// Modified n-gram precisions (0-100) for n = 1...4, smoothed where an order had no match.
    public var precisions: [Double]
    public var brevityPenalty: Double
    public var statistics: BleuStatistics
}

/// sacreBLEU's BLEU with its defaults: 13a tokenisation, case-sensitive, `exp` smoothing (NIST's
/// mteval-v13a method) and n-grams up to 4. `corpusBleu` uses effective order off and
/// `sentenceBleu` uses it on, as sacreBLEU's `corpus_bleu` and `sentence_bleu` do.
public enum SacreBleu {
    /// The sacreBLEU release the fixtures in Tests/Fixtures/bleu were generated with, and that the
    /// signature names: a changed reference version means regenerated fixtures.
    public static let referenceVersion = "2.6.0"

    /// Corpus BLEU from the summed statistics of every segment. `references[i]` holds segment i's
    /// references (one or more; the count may vary by segment: the signature then says `var`).
    /// sacreBLEU takes reference *streams* instead; this is the same data transposed.
    public static func corpusBleu(hypotheses: [String], references: [[String]]) -> BleuScore {
        precondition(hypotheses.count == references.count, "one list of references per hypothesis")
        var sum = BleuStatistics.zero
        for (hypothesis, refs) in zip(hypotheses, references) {
            sum = sum + statistics(hypothesis: hypothesis, references: refs)
        }
        return score(sum, effectiveOrder: false)
    }

    /// Sentence BLEU of one hypothesis against one or more references.
    public static func sentenceBleu(hypothesis: String, references: [String]) -> BleuScore {
        score(statistics(hypothesis: hypothesis, references: references), effectiveOrder: true)
    }

    public static func statistics(hypothesis: String, references: [String]) -> BleuStatistics {
        precondition(!references.isEmpty, "BLEU needs at least one reference")
        return BleuStatistics(hypothesis: Tokenizer13a.tokens(hypothesis), references: references.map(Tokenizer13a.tokens))
    }

    /// sacreBLEU's signature for these defaults, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
    /// `referenceCounts` are the per-segment reference counts: one distinct count is printed as
    /// is, several as `var`.
    public static func signature(referenceCounts: [Int], effectiveOrder: Bool) -> String {
        let distinct = Set(referenceCounts)
        var nrefs = "var"
        if distinct.count == 1, let only = distinct.first { nrefs = String(only) }
        return "nrefs:\(nrefs)|case:mixed|eff:\(effectiveOrder ? "yes" : "no")|tok:13a|smooth:exp|version:\(referenceVersion)"
    }

    /// BLEU from summed statistics, following sacreBLEU's `compute_bleu` step for step so the
    /// floating-point operations (and so the last bits) are the same:
    /// - no match of any order scores 0 outright;
    /// - an order with no hypothesis n-grams ends the loop; without effective order the missing
    ///   precisions stay 0 and their log is floored at -9999999999, so the score is 0;
    /// - the k-th order with n-grams but no match gets precision 100 / (2^k * total) (`exp`).
    public static func score(_ stats: BleuStatistics, effectiveOrder: Bool) -> BleuScore {
        let sys = stats.hypothesisLength, ref = stats.referenceLength
        var bp = 1.0
        if sys < ref { bp = sys > 0 ? exp(1 - Double(ref) / Double(sys)) : 0 }
        var precisions = Array(repeating: 0.0, count: BleuStatistics.maxOrder)
        guard stats.correct.contains(where: { $0 != 0 }) else {
            return BleuScore(score: 0, precisions: precisions, brevityPenalty: bp, statistics: stats)
        }
        var smooth = 1.0
        var order = BleuStatistics.maxOrder
        for n in 1...BleuStatistics.maxOrder {
            let total = stats.total[n - 1], correct = stats.correct[n - 1]
            if total == 0 { break }
            if effectiveOrder { order = n }
            if correct == 0 {
                smooth *= 2
                precisions[n - 1] = 100 / (smooth * Double(total))
            } else {
                precisions[n - 1] = 100 * Double(correct) / Double(total)
            }
        }
        var logSum = 0.0
        for p in precisions[0..<order] { logSum += p == 0 ? -9999999999 : log(p) }
        return BleuScore(score: bp * exp(logSum / Double(order)), precisions: precisions, brevityPenalty: bp, statistics: stats)
    }
}
