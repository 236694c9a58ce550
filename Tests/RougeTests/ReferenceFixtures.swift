import Foundation
import Rouge

/// The JSON written by scripts/reference/make_rouge_fixtures.py from rouge_score 0.1.2 and
/// NLTK. Scores are stored as [precision, recall, fmeasure] per ROUGE type.
enum ReferenceFixtures {
    struct Scores: Decodable {
        let rouge1: [Double]
        let rouge2: [Double]
        let rougeL: [Double]
        let rougeLsum: [Double]
    }

    struct DialogSumRow: Decodable {
        let fname: String
        /// FNV-1a of the prediction (summary2) and the reference (summary1).
        let fnv1a32: [String]
        let rouge1: [Double]
        let rouge2: [Double]
        let rougeL: [Double]
        let rougeLsum: [Double]

        var scores: Scores { Scores(rouge1: rouge1, rouge2: rouge2, rougeL: rougeL, rougeLsum: rougeLsum) }
    }

    struct DialogSum: Decodable {
        let source: String
        let prediction: String
        let reference: String
        /// Only in dialogsum-pairs.json.
        let meanFMeasure: [String: Double]?
        let rows: [DialogSumRow]
    }

    struct EdgeCase: Decodable {
        let name: String
        let prediction: String
        let reference: String
        let predictionTokens: [String]
        let referenceTokens: [String]
        let rouge1: [Double]
        let rouge2: [Double]
        let rougeL: [Double]
        let rougeLsum: [Double]

        var scores: Scores { Scores(rouge1: rouge1, rouge2: rouge2, rougeL: rougeL, rougeLsum: rougeLsum) }
    }

    struct EdgeCases: Decodable {
        let cases: [EdgeCase]
    }

    struct GeneratedPair: Decodable {
        let prediction: String
        let reference: String
        let rouge1: [Double]
        let rouge2: [Double]
        let rougeL: [Double]
        let rougeLsum: [Double]

        var scores: Scores { Scores(rouge1: rouge1, rouge2: rouge2, rougeL: rougeL, rougeLsum: rougeLsum) }
    }

    struct GeneratedPairs: Decodable {
        let pairs: [GeneratedPair]
    }

    struct Stems: Decodable {
        let mode: String
        let dialogsumWords: Int
        let stems: [String: String]
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: FixturePaths.fixtures.appendingPathComponent(name))
        return try JSONDecoder().decode(T.self, from: data)
    }

    static func fnv1a32(_ text: String) -> String {
        var hash: UInt32 = 0x811C_9DC5
        for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Every value that differs from the reference by more than `tolerance`, named, and the
    /// largest absolute difference seen (reported by the parity tests).
    static func compare(_ actual: RougeScores, _ expected: Scores, tolerance: Double = 1e-9)
        -> (maxError: Double, mismatches: [String])
    {
        var maxError = 0.0
        var mismatches: [String] = []
        let measures: [(String, RougeScore, [Double])] = [
            ("rouge1", actual.rouge1, expected.rouge1), ("rouge2", actual.rouge2, expected.rouge2),
            ("rougeL", actual.rougeL, expected.rougeL), ("rougeLsum", actual.rougeLsum, expected.rougeLsum),
        ]
        for (type, score, reference) in measures {
            guard reference.count == 3 else {
                mismatches.append("\(type): fixture has \(reference.count) values, expected 3")
                continue
            }
            for (part, value, want) in [("precision", score.precision, reference[0]),
                                        ("recall", score.recall, reference[1]),
                                        ("fmeasure", score.fmeasure, reference[2])] {
                let error = abs(value - want)
                if !(error <= tolerance) { mismatches.append("\(type).\(part) = \(value), rouge_score \(want)") }
                if error.isFinite { maxError = max(maxError, error) } else { maxError = .infinity }
            }
        }
        return (maxError, mismatches)
    }
}
