import Foundation
import Numerics
import Testing
@testable import T5

/// One case of `Tests/Fixtures/models/<model>/expected.json`, written by
/// scripts/reference/make_model_fixtures.py from transformers/PEFT outputs.
struct ReferenceCase: Sendable, CustomTestStringConvertible {
    let model: String
    let id: String
    let adapters: [String]
    let text: String
    let inputIDs: [Int32]
    let parameters: GenerationParameters
    let tokenIDs: [Int32]
    let hasLogits: Bool
    var testDescription: String { "\(model)/\(id)" }

    static func load(model: String) -> [ReferenceCase] {
        let url = FixturePaths.models.appendingPathComponent(model).appendingPathComponent("expected.json")
        guard let data = try? Data(contentsOf: url),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map { c in
            let p = c["params"] as? [String: Any] ?? [:]
            var g = GenerationParameters()
            if let v = p["max_new_tokens"] as? Int { g.maxNewTokens = v }
            if let v = p["min_new_tokens"] as? Int { g.minNewTokens = v }
            if let v = p["num_beams"] as? Int { g.numBeams = v }
            if let v = p["length_penalty"] as? Double { g.lengthPenalty = Float(v) }
            if let v = p["early_stopping"] as? Bool { g.earlyStopping = v ? .always : .heuristic }
            if let v = p["early_stopping"] as? String, v == "never" { g.earlyStopping = .never }
            if let v = p["repetition_penalty"] as? Double { g.repetitionPenalty = Float(v) }
            if let v = p["no_repeat_ngram_size"] as? Int { g.noRepeatNgramSize = v }
            return ReferenceCase(model: model, id: c["id"] as! String, adapters: c["adapters"] as? [String] ?? [],
                                 text: c["text"] as? String ?? "",
                                 inputIDs: (c["input_ids"] as! [Int]).map(Int32.init), parameters: g,
                                 tokenIDs: (c["token_ids"] as! [Int]).map(Int32.init),
                                 hasLogits: c["logits"] as? Bool ?? false)
        }
    }

    static let modelNames = ["tiny-flan", "tiny-t5v1"]
    static var all: [ReferenceCase] { modelNames.flatMap { load(model: $0) } }
    static var baseOnly: [ReferenceCase] { all.filter { $0.adapters.isEmpty } }
}

/// Loaded models, shared across tests (loading is the slow part).
final class ModelCache: @unchecked Sendable {
    static let shared = ModelCache()
    private var models: [String: T5ForConditionalGeneration] = [:]
    private let lock = NSLock()

    func model(_ name: String) throws -> T5ForConditionalGeneration {
        lock.lock(); defer { lock.unlock() }
        if let m = models[name] { return m }
        let m = try T5ForConditionalGeneration(directory: FixturePaths.models.appendingPathComponent(name))
        models[name] = m
        return m
    }
}
