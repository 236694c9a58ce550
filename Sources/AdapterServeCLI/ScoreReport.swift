import Bleu
import Foundation
import Rouge

/// One pair's (or the mean's) scores; metrics not asked for are nil and left out of the JSON.
struct ScoreRow: Encodable, Equatable {
    var rouge1: Double?
    var rouge2: Double?
    var rougeL: Double?
    var rougeLsum: Double?
    /// sacreBLEU sentence_bleu on its 0-100 scale (in "mean": the mean of the pairs' values).
    var bleu: Double?
}

/// sacreBLEU corpus_bleu over all pairs, which is not the mean of sentence scores.
struct CorpusScore: Encodable, Equatable {
    var bleu: Double
    var bleu_signature: String
}

/// What `adapter-serve score` prints: `{"mean", "corpus"?, "pairs"}`. With only ROUGE asked for
/// it is exactly the old `rouge` output, so existing consumers of `rouge --json` keep working.
struct ScoreReport: Encodable {
    var mean: ScoreRow
    var corpus: CorpusScore?
    var pairs: [ScoreRow]

    enum Metric: String, CaseIterable { case rouge, bleu }

    init(pairs input: [RougePair], metrics: Set<Metric>) {
        var rows = input.map { _ in ScoreRow() }
        var mean = ScoreRow()
        if metrics.contains(.rouge) {
            let scorer = RougeScorer(useStemmer: true)
            let scores = input.map { Self.bestRouge(scorer, prediction: $0.prediction, references: $0.references) }
            for (i, s) in scores.enumerated() {
                let f = s.fmeasures
                rows[i].rouge1 = f.rouge1; rows[i].rouge2 = f.rouge2; rows[i].rougeL = f.rougeL; rows[i].rougeLsum = f.rougeLsum
            }
            let m = meanFMeasures(scores)
            mean.rouge1 = m.rouge1; mean.rouge2 = m.rouge2; mean.rougeL = m.rougeL; mean.rougeLsum = m.rougeLsum
        }
        if metrics.contains(.bleu) {
            var sum = 0.0
            for (i, pair) in input.enumerated() {
                let b = SacreBleu.sentenceBleu(hypothesis: pair.prediction, references: pair.references).score
                rows[i].bleu = b
                sum += b
            }
            mean.bleu = input.isEmpty ? 0 : sum / Double(input.count)
            let corpus = SacreBleu.corpusBleu(hypotheses: input.map(\.prediction), references: input.map(\.references))
            self.corpus = CorpusScore(bleu: corpus.score,
                                      bleu_signature: SacreBleu.signature(referenceCounts: input.map(\.references.count), effectiveOrder: false))
        }
        self.mean = mean
        self.pairs = rows
    }

    /// rouge_score's `score_multi`: for each ROUGE type separately, the reference with the highest
    /// F-measure (the first on a tie, as numpy's argmax).
    static func bestRouge(_ scorer: RougeScorer, prediction: String, references: [String]) -> RougeScores {
        let all = references.map { scorer.score(prediction: prediction, reference: $0) }
        var best = all[0]
        for s in all.dropFirst() {
            if s.rouge1.fmeasure > best.rouge1.fmeasure { best.rouge1 = s.rouge1 }
            if s.rouge2.fmeasure > best.rouge2.fmeasure { best.rouge2 = s.rouge2 }
            if s.rougeL.fmeasure > best.rougeL.fmeasure { best.rougeL = s.rougeL }
            if s.rougeLsum.fmeasure > best.rougeLsum.fmeasure { best.rougeLsum = s.rougeLsum }
        }
        return best
    }

    /// Keys sorted and doubles in shortest round-tripping form, as `rouge --json` always printed.
    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// A table for people: one row per pair, then the mean (ROUGE as F-measures, BLEU 0-100), then
    /// corpus BLEU with its signature.
    func table() -> String {
        let columns: [(String, (ScoreRow) -> Double?)] = [("rouge1", \.rouge1), ("rouge2", \.rouge2), ("rougeL", \.rougeL),
                                                           ("rougeLsum", \.rougeLsum), ("bleu", \.bleu)]
        let shown = columns.filter { $0.1(mean) != nil }
        let header = ["pair"] + shown.map(\.0)
        func cells(_ label: String, _ row: ScoreRow) -> [String] { [label] + shown.map { fixed4($0.1(row) ?? 0) } }
        let rows = pairs.enumerated().map { cells(String($0.offset + 1), $0.element) } + [cells("mean", mean)]
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func render(_ row: [String]) -> String {
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var text = ([render(header)] + rows.map(render)).joined(separator: "\n") + "\n"
        if let corpus { text += "corpus BLEU \(fixed4(corpus.bleu))  \(corpus.bleu_signature)\n" }
        return text
    }

    private func fixed4(_ value: Double) -> String { RougeReport.fixed4(value) }
}
