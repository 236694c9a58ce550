import Foundation
import Testing
import Rouge

/// DialogSum test rows scored by rouge_score: summary2 against summary1 for all 500 rows, and
/// the long multi-line dialogue against summary1 + "\n" + summary3 for the first 200 (rougeLsum
/// on natural text with many lines). The texts are read from assets/dialogsum; the fixtures hold only
/// the scores and a hash of each text.
@Suite
struct DialogSumParityTests {
    struct Row: Decodable {
        let fname: String
        let dialogue: String
        let summary1: String
        let summary2: String
        let summary3: String
    }

    static func rows() throws -> [String: Row] {
        let text = try String(contentsOf: FixturePaths.dialogSumTest, encoding: .utf8)
        var byName: [String: Row] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty {
            let row = try JSONDecoder().decode(Row.self, from: Data(line.utf8))
            byName[row.fname] = row
        }
        return byName
    }

    /// Scores every fixture row with the texts `pair` picks from the data row; returns the
    /// scores in fixture order.
    @discardableResult
    static func checkParity(fixture name: String, rows expectedCount: Int,
                            pair: (Row) -> (prediction: String, reference: String)) throws -> [RougeScores] {
        let fixture = try ReferenceFixtures.load(name, as: ReferenceFixtures.DialogSum.self)
        try #require(fixture.rows.count == expectedCount)
        let rows = try Self.rows()
        let scorer = RougeScorer()
        var maxError = 0.0
        var failures = 0
        var all: [RougeScores] = []
        for expected in fixture.rows {
            let row = try #require(rows[expected.fname], "\(expected.fname) missing from assets/dialogsum")
            let (prediction, reference) = pair(row)
            try #require(expected.fnv1a32 == [ReferenceFixtures.fnv1a32(prediction), ReferenceFixtures.fnv1a32(reference)],
                         "\(expected.fname) in assets/dialogsum differs from the text \(name) was made from; rerun make_rouge_fixtures.py")
            let scores = scorer.score(prediction: prediction, reference: reference)
            all.append(scores)
            let (error, mismatches) = ReferenceFixtures.compare(scores, expected.scores)
            maxError = max(maxError, error)
            if !mismatches.isEmpty {
                failures += 1
                if failures <= 5 { Issue.record("\(name) \(expected.fname): \(mismatches.joined(separator: "; "))") }
            }
        }
        print("\(name) parity: \(fixture.rows.count) pairs, max absolute error \(maxError)")
        #expect(failures == 0, "\(failures) of \(fixture.rows.count) pairs differ from rouge_score")
        return all
    }

    @Test func summaryPairsMatchRougeScore() throws {
        try Self.checkParity(fixture: "dialogsum-pairs.json", rows: 500) { ($0.summary2, $0.summary1) }
    }

    @Test func multiLineDialoguesMatchRougeScore() throws {
        try Self.checkParity(fixture: "dialogsum-multiline.json", rows: 200) {
            ($0.dialogue, $0.summary1 + "\n" + $0.summary3)
        }
    }

    /// The mean the service and the CLI report, against a plain mean computed in Python from
    /// rouge_score's F-measures.
    @Test func meanFMeasuresMatchPythonMean() throws {
        let scores = try Self.checkParity(fixture: "dialogsum-pairs.json", rows: 500) { ($0.summary2, $0.summary1) }
        let fixture = try ReferenceFixtures.load("dialogsum-pairs.json", as: ReferenceFixtures.DialogSum.self)
        let expected = try #require(fixture.meanFMeasure)
        let mean = meanFMeasures(scores)
        for (type, value) in [("rouge1", mean.rouge1), ("rouge2", mean.rouge2),
                              ("rougeL", mean.rougeL), ("rougeLsum", mean.rougeLsum)] {
            let want = try #require(expected[type])
            #expect(abs(value - want) <= 1e-12, "\(type): \(value), Python \(want)")
        }
    }
}
