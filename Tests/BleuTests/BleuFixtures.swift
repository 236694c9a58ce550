import Foundation

/// The sacreBLEU outputs recorded by scripts/reference/make_bleu_fixtures.py.
enum BleuFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bleu")

    struct File<Case: Decodable & Sendable>: Decodable, Sendable {
        let sacrebleu: String
        let cases: [Case]
    }

    struct TokenCase: Decodable, Sendable, CustomTestStringConvertibleCase {
        let line: String
        let tokens: [String]
        var label: String { line.debugDescription }
    }

    /// sacreBLEU's BLEUScore fields for one sentence_bleu or corpus_bleu call.
    struct Expected: Decodable, Sendable {
        let score: Double
        let precisions: [Double]
        let bp: Double
        let counts: [Int]
        let totals: [Int]
        let sys_len: Int
        let ref_len: Int
        let signature: String
    }

    struct SentenceInputs: Decodable, Sendable {
        let hypothesis: String
        let references: [String]
    }

    /// references[i] lists segment i's references.
    struct CorpusInputs: Decodable, Sendable {
        let hypotheses: [String]
        let references: [[String]]
    }

    /// One case: its id, the inputs and sacreBLEU's result, all fields of one JSON object.
    struct Case<Inputs: Decodable & Sendable>: Decodable, Sendable, CustomTestStringConvertibleCase {
        let id: String
        let inputs: Inputs
        let expected: Expected
        var label: String { id }

        private enum CodingKeys: String, CodingKey { case id }
        init(from decoder: Decoder) throws {
            id = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .id)
            inputs = try Inputs(from: decoder)
            expected = try Expected(from: decoder)
        }
    }
    typealias SentenceCase = Case<SentenceInputs>
    typealias CorpusCase = Case<CorpusInputs>

    /// A missing or unreadable fixture is a failure with its path, never an empty parameter list.
    static func load<Case: Decodable & Sendable>(_ name: String, as: Case.Type) -> File<Case> {
        let url = directory.appendingPathComponent(name)
        do {
            return try JSONDecoder().decode(File<Case>.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read fixture \(url.path): \(error)")
        }
    }

    static let tokens = load("tokens.json", as: TokenCase.self)
    static let sentences = load("sentences.json", as: SentenceCase.self)
    static let corpora = load("corpora.json", as: CorpusCase.self)
}

/// Parameterised test arguments print their fixture id rather than the whole texts.
protocol CustomTestStringConvertibleCase: CustomStringConvertible { var label: String { get } }
extension CustomTestStringConvertibleCase { var description: String { label } }
