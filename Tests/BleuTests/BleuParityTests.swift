import Bleu
import Foundation
import Testing

/// BLEU against sacreBLEU itself: every number it reports for sentence_bleu and corpus_bleu, on
/// hand-written edge cases and on DialogSum's three human summaries of each dialogue.
struct BleuParityTests {
    @Test("13a tokens equal sacreBLEU's", arguments: BleuFixtures.tokens.cases)
    func tokens(_ c: BleuFixtures.TokenCase) {
        #expect(Tokenizer13a.tokens(c.line).map { String(decoding: $0, as: UTF8.self) } == c.tokens)
    }

    @Test("sentence_bleu equals sacreBLEU's to 1e-9", arguments: BleuFixtures.sentences.cases)
    func sentence(_ c: BleuFixtures.SentenceCase) {
        let score = SacreBleu.sentenceBleu(hypothesis: c.inputs.hypothesis, references: c.inputs.references)
        Self.check(score, c.expected)
        #expect(SacreBleu.signature(referenceCounts: [c.inputs.references.count], effectiveOrder: true) == c.expected.signature)
    }

    @Test("corpus_bleu equals sacreBLEU's to 1e-9", arguments: BleuFixtures.corpora.cases)
    func corpus(_ c: BleuFixtures.CorpusCase) {
        let score = SacreBleu.corpusBleu(hypotheses: c.inputs.hypotheses, references: c.inputs.references)
        Self.check(score, c.expected)
        #expect(SacreBleu.signature(referenceCounts: c.inputs.references.map(\.count), effectiveOrder: false) == c.expected.signature)
    }

    /// The fixtures cover what the issue names, so a regenerated, thinner fixture cannot pass.
    @Test func fixturesCoverTheEdgeCases() {
        #expect(BleuFixtures.sentences.sacrebleu == SacreBleu.referenceVersion)
        #expect(BleuFixtures.corpora.sacrebleu == SacreBleu.referenceVersion)
        let ids = Set(BleuFixtures.sentences.cases.map(\.id))
        for id in ["empty-hypothesis", "empty-reference", "no-bigram-match", "no-trigram-match", "no-4gram-match",
                   "one-word-match", "multi-ref-different-lengths", "unicode-combining-vs-precomposed", "numbers", "entities"] {
            #expect(ids.contains(id), "missing \(id)")
        }
        #expect(BleuFixtures.sentences.cases.filter { $0.id.hasPrefix("test_") }.count == 200)
        #expect(BleuFixtures.corpora.cases.first { $0.id == "dialogsum-multi" }?.inputs.hypotheses.count == 500)
        #expect(BleuFixtures.corpora.cases.contains { $0.expected.signature.hasPrefix("nrefs:var|") })
        #expect(BleuFixtures.tokens.cases.count >= 50)
    }

    static func check(_ score: BleuScore, _ e: BleuFixtures.Expected, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(abs(score.score - e.score) <= 1e-9, "score \(score.score) vs sacreBLEU \(e.score)", sourceLocation: sourceLocation)
        #expect(score.statistics.correct == e.counts, sourceLocation: sourceLocation)
        #expect(score.statistics.total == e.totals, sourceLocation: sourceLocation)
        #expect(score.statistics.hypothesisLength == e.sys_len, sourceLocation: sourceLocation)
        #expect(score.statistics.referenceLength == e.ref_len, sourceLocation: sourceLocation)
        #expect(abs(score.brevityPenalty - e.bp) <= 1e-12, sourceLocation: sourceLocation)
        #expect(zip(score.precisions, e.precisions).allSatisfy { abs($0 - $1) <= 1e-9 } && score.precisions.count == e.precisions.count,
                "precisions \(score.precisions) vs \(e.precisions)", sourceLocation: sourceLocation)
    }
}
