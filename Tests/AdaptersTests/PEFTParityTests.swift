import Foundation
import SafeTensors
import Numerics
import Testing
@testable import Adapters
@testable import T5

/// Token-exact parity with PeftModel.generate for every committed adapter fixture, plus the
/// LoRA + soft-prompt stack against its manual transformers reference.
struct AdapterCase: Sendable, CustomTestStringConvertible {
    let model: String
    let id: String
    let adapters: [String]
    let inputIDs: [Int32]
    let parameters: GenerationParameters
    let tokenIDs: [Int32]
    let hasLogits: Bool
    var testDescription: String { "\(model)/\(id)" }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    static var all: [AdapterCase] {
        ["tiny-flan", "tiny-t5v1"].flatMap { model -> [AdapterCase] in
            guard let data = try? Data(contentsOf: root.appendingPathComponent("\(model)/expected.json")),
                  let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let cases = json["cases"] as? [[String: Any]] else { return [] }
            return cases.compactMap { c in
                let adapters = c["adapters"] as? [String] ?? []
                guard !adapters.isEmpty else { return nil }
                let p = c["params"] as? [String: Any] ?? [:]
                var g = GenerationParameters()
                g.maxNewTokens = p["max_new_tokens"] as? Int ?? 20
                g.numBeams = p["num_beams"] as? Int ?? 1
                return AdapterCase(model: model, id: c["id"] as! String, adapters: adapters,
                                   inputIDs: (c["input_ids"] as! [Int]).map(Int32.init), parameters: g,
                                   tokenIDs: (c["token_ids"] as! [Int]).map(Int32.init), hasLogits: c["logits"] as? Bool ?? false)
            }
        }
    }
}

@Suite struct PEFTParityTests {
    static let models: [String: T5ForConditionalGeneration] = {
        var m: [String: T5ForConditionalGeneration] = [:]
        for name in ["tiny-flan", "tiny-t5v1"] {
            m[name] = try? T5ForConditionalGeneration(directory: AdapterCase.root.appendingPathComponent(name))
        }
        return m
    }()

    func adapterWeights(_ c: AdapterCase) throws -> AdapterWeights {
        let base = try #require(Self.models[c.model])
        let parts = try c.adapters.map { try PEFTAdapter.load(directory: AdapterCase.root.appendingPathComponent("\(c.model)/adapters/\($0)"), base: base) }
        return AdapterWeights.combine(parts.map(\.weights))!
    }

    @Test func everyAdapterKindIsCovered() {
        let ids = Set(AdapterCase.all.flatMap(\.adapters))
        #expect(ids.isSuperset(of: ["lora-qv", "lora-all-rslora", "lora-patterns", "lora-regex", "prompt-20", "prompt-8"]))
        #expect(AdapterCase.all.contains { $0.adapters.count == 2 })
    }

    @Test("generate matches PeftModel.generate", arguments: AdapterCase.all)
    func matchesPEFT(_ c: AdapterCase) throws {
        let base = try #require(Self.models[c.model])
        let out = base.generate([GenerationRequest(ids: c.inputIDs, adapter: try adapterWeights(c), parameters: c.parameters)])[0]
        #expect(out == c.tokenIDs)
    }

    @Test("first-step logits match PEFT within 3e-5 of the logit scale", arguments: AdapterCase.all.filter(\.hasLogits))
    func logitsMatch(_ c: AdapterCase) throws {
        let base = try #require(Self.models[c.model])
        let reference = try SafeTensors(mapping: AdapterCase.root.appendingPathComponent("\(c.model)/logits.safetensors").path).floats(c.id)
        let encoded = base.encode([EncoderInput(ids: c.inputIDs, adapter: try adapterWeights(c))])
        var states = [base.makeDecoderState(encoded[0])]
        let logits = base.decodeStep(&states, tokens: [base.config.decoderStartTokenID])
        let maxError = zip(logits, reference).map { abs($0 - $1) }.max() ?? .infinity
        print("max |logit error| \(c.model)/\(c.id): \(maxError)")
        // Relative to the logits' scale (random tiny models have logits in the tens).
        let scale = max(1, reference.map(abs).max() ?? 1)
        #expect(maxError < 3e-5 * scale, "max error \(maxError), logit scale \(scale)")
    }

    /// Rows with different adapters (and none) in one batch give what each gives alone.
    @Test func mixedBatchOfFixtureAdapters() throws {
        let cases = AdapterCase.all.filter { $0.model == "tiny-flan" }
        let base = try #require(Self.models["tiny-flan"])
        var requests = try cases.map { GenerationRequest(ids: $0.inputIDs, adapter: try adapterWeights($0), parameters: $0.parameters) }
        requests.append(GenerationRequest(ids: cases[0].inputIDs, adapter: nil, parameters: cases[0].parameters))
        let batched = base.generate(requests)
        for (i, c) in cases.enumerated() { #expect(batched[i] == c.tokenIDs, "\(c.id)") }
        #expect(batched.last == base.generate([requests.last!])[0])
    }
}
