import Foundation
import Testing
import Rouge

/// The exact output of `adapter-serve rouge`, with and without --json.
struct RougeReportTests {
    static func scores(_ f: [Double]) -> RougeScores {
        func s(_ v: Double) -> RougeScore { RougeScore(precision: v, recall: v, fmeasure: v) }
        return RougeScores(rouge1: s(f[0]), rouge2: s(f[1]), rougeL: s(f[2]), rougeLsum: s(f[3]))
    }

    @Test func jsonHasSortedKeysMeanAndPairsInOrder() throws {
        let report = RougeReport(scores: [Self.scores([1, 0.5, 0.25, 0.75]), Self.scores([0, 0.5, 0.75, 0.25])])
        let json = String(decoding: try report.jsonData(), as: UTF8.self)
        #expect(json == #"{"mean":{"rouge1":0.5,"rouge2":0.5,"rougeL":0.5,"rougeLsum":0.5},"#
            + #""pairs":[{"rouge1":1,"rouge2":0.5,"rougeL":0.25,"rougeLsum":0.75},"#
            + #"{"rouge1":0,"rouge2":0.5,"rougeL":0.75,"rougeLsum":0.25}]}"#)
    }

    /// Only F-measures are reported; precision and recall must not leak into the pair objects.
    @Test func pairsCarryFMeasuresOnly() throws {
        let score = RougeScores(rouge1: RougeScore(precision: 1, recall: 0.5, fmeasure: 2.0 / 3),
                                rouge2: .zero, rougeL: .zero, rougeLsum: .zero)
        let report = RougeReport(scores: [score])
        let object = try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any]
        let pairs = try #require(object?["pairs"] as? [[String: Double]])
        #expect(pairs == [["rouge1": 2.0 / 3, "rouge2": 0, "rougeL": 0, "rougeLsum": 0]])
    }

    @Test func doublesRoundTripThroughJSON() throws {
        let scorer = RougeScorer()
        let scores = [scorer.score(prediction: "the cats sat on a mat today", reference: "a cat sat on the mat")]
        let decoded = try JSONDecoder().decode(RougeReport.self, from: RougeReport(scores: scores).jsonData())
        #expect(decoded == RougeReport(scores: scores))
    }

    @Test func tableAlignsColumnsAndEndsWithTheMean() {
        let report = RougeReport(scores: [Self.scores([1, 0.5, 0.25, 0.75]), Self.scores([0, 0.123456, 2.0 / 3, 0.99995])])
        #expect(report.table() == """
            pair  rouge1  rouge2  rougeL  rougeLsum
            1     1.0000  0.5000  0.2500     0.7500
            2     0.0000  0.1235  0.6667     1.0000
            mean  0.5000  0.3117  0.4583     0.8750

            """)
    }

    @Test func emptyReportHasZeroMean() throws {
        let report = RougeReport(scores: [])
        #expect(report.pairs.isEmpty)
        #expect(String(decoding: try report.jsonData(), as: UTF8.self)
            == #"{"mean":{"rouge1":0,"rouge2":0,"rougeL":0,"rougeLsum":0},"pairs":[]}"#)
    }
}
