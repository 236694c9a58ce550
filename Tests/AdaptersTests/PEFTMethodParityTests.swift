import Foundation
import Numerics
import Testing
@testable import Adapters
@testable import T5
import SafeTensors

/// IA3, DoRA, AdaLoRA and prefix tuning against PeftModel.generate on the committed fixtures that
/// scripts/reference/make_method_fixtures.py writes (expected-methods.json, logits-methods.safetensors).
enum MethodFixtures {
    static let models = ["tiny-flan", "tiny-t5v1"]

    static func json(_ model: String) -> [String: Any] {
        guard let data = try? Data(contentsOf: AdapterCase.root.appendingPathComponent("\(model)/expected-methods.json")),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [:] }
        return json
    }

    /// Adapter name -> method ("ia3", "dora", "adalora"), as the script recorded it.
    static func kinds(_ model: String) -> [String: String] { json(model)["kinds"] as? [String: String] ?? [:] }

    static var cases: [AdapterCase] {
        models.flatMap { model -> [AdapterCase] in
            (json(model)["cases"] as? [[String: Any]] ?? []).map { c in
                let p = c["params"] as? [String: Any] ?? [:]
                var g = GenerationParameters()
                g.maxNewTokens = p["max_new_tokens"] as? Int ?? 20
                g.numBeams = p["num_beams"] as? Int ?? 1
                return AdapterCase(model: model, id: c["id"] as! String, adapters: c["adapters"] as? [String] ?? [],
                                   inputIDs: (c["input_ids"] as! [Int]).map(Int32.init), parameters: g,
                                   tokenIDs: (c["token_ids"] as! [Int]).map(Int32.init), hasLogits: c["logits"] as? Bool ?? false)
            }
        }
    }

    static func load(_ model: String, _ adapter: String) throws -> PEFTAdapter {
        let base = try #require(PEFTParityTests.models[model])
        return try PEFTAdapter.load(directory: AdapterCase.root.appendingPathComponent("\(model)/adapters/\(adapter)"), base: base)
    }

    static func weights(_ c: AdapterCase) throws -> AdapterWeights {
        AdapterWeights.combine(try c.adapters.map { try load(c.model, $0).weights })!
    }
}

@Suite struct PEFTMethodParityTests {
    /// A missing or truncated fixture would leave the parameterised tests with no arguments.
    @Test func fixturesCoverEveryMethodOnBothModels() throws {
        #expect(MethodFixtures.cases.count == 44)
        #expect(MethodFixtures.cases.filter(\.hasLogits).count == 11)
        for model in MethodFixtures.models {
            let kinds = MethodFixtures.kinds(model)
            #expect(Set(kinds.values) == ["ia3", "dora", "adalora", "prefix_tuning"], "\(model)")
            for (name, kind) in kinds {
                #expect(try MethodFixtures.load(model, name).info.kind.rawValue == kind, "\(model)/\(name)")
            }
            #expect(MethodFixtures.cases.contains { $0.model == model && $0.parameters.numBeams > 1 })
            #expect(MethodFixtures.cases.contains { $0.model == model && $0.adapters.count == 2 })
        }
    }

    @Test("generate matches PeftModel.generate", arguments: MethodFixtures.cases)
    func matchesPEFT(_ c: AdapterCase) throws {
        let base = try #require(PEFTParityTests.models[c.model])
        let out = base.generate([GenerationRequest(ids: c.inputIDs, adapter: try MethodFixtures.weights(c), parameters: c.parameters)])[0]
        #expect(out == c.tokenIDs)
    }

    @Test("first-step logits match PEFT within 3e-5 of the logit scale", arguments: MethodFixtures.cases.filter(\.hasLogits))
    func logitsMatch(_ c: AdapterCase) throws {
        let base = try #require(PEFTParityTests.models[c.model])
        let reference = try SafeTensors(mapping: AdapterCase.root.appendingPathComponent("\(c.model)/logits-methods.safetensors").path).floats(c.id)
        let encoded = base.encode([EncoderInput(ids: c.inputIDs, adapter: try MethodFixtures.weights(c))])
        var states = [base.makeDecoderState(encoded[0])]
        let logits = base.decodeStep(&states, tokens: [base.config.decoderStartTokenID])
        let maxError = zip(logits, reference).map { abs($0 - $1) }.max() ?? .infinity
        let baseline = try SafeTensors(mapping: AdapterCase.root.appendingPathComponent("\(c.model)/logits.safetensors").path).floats("greedy-d0")
        print("max |logit error| \(c.model)/\(c.id): \(maxError)")
        let scale = max(1, reference.map(abs).max() ?? 1)
        #expect(maxError < 3e-5 * scale, "max error \(maxError), logit scale \(scale)")
        // The adapter must matter: its logits are far from the base's on the same input.
        let fromBase = zip(baseline, reference).map { abs($0 - $1) }.max() ?? 0
        #expect(fromBase > 1e-2 * scale, "adapter leaves the logits at the base's (\(fromBase))")
    }

    /// DoRA's load-time norms read the base as held: a bf16-held copy of the (bf16-valued) fixture
    /// gives exactly the fp32 scales; int8 gives scales off by its quantisation error only.
    @Test func doraNormsFromBF16AndInt8Bases() throws {
        let dir = AdapterCase.root.appendingPathComponent("tiny-flan/adapters/dora-all-rslora")
        let fp32 = try MethodFixtures.load("tiny-flan", "dora-all-rslora").weights.deltas.compactMap { $0?.magnitudeScale }
        #expect(fp32.count == 47)   // every Linear: 2 x 7 encoder + 3 x 11 decoder
        for (format, bound) in [(WeightFormat.bf16, Float(0)), (.int8, Float(0.02))] {
            let base = try T5ForConditionalGeneration(directory: AdapterCase.root.appendingPathComponent("tiny-flan"), weightFormat: format)
            let scales = try PEFTAdapter.load(directory: dir, base: base).weights.deltas.compactMap { $0?.magnitudeScale }
            let worst = zip(scales.joined(), fp32.joined()).map { abs($0 - $1) / abs($1) }.max() ?? .infinity
            #expect(scales.count == fp32.count && worst <= bound, "\(format): relative deviation \(worst)")
        }
    }

    /// One batch holding every kind (base, LoRA, DoRA, IA3 on input and output, AdaLoRA, prefix
    /// with and without projection, soft prompt, weight adapter + prompt or prefix stacks), greedy and beam, gives each request what
    /// PEFT gives it alone, and what it gives alone here.
    @Test func mixedBatchOfEveryKind() throws {
        let base = try #require(PEFTParityTests.models["tiny-flan"])
        let old = AdapterCase.all.filter { $0.model == "tiny-flan" && ($0.id.hasPrefix("lora-qv") || $0.id.hasPrefix("prompt-20")) }
        let new = MethodFixtures.cases.filter { $0.model == "tiny-flan" }
        var requests: [GenerationRequest] = []
        var expected: [[Int32]?] = []
        for c in old {
            let w = AdapterWeights.combine(try c.adapters.map { try MethodFixtures.load(c.model, $0).weights })!
            requests.append(GenerationRequest(ids: c.inputIDs, adapter: w, parameters: c.parameters))
            expected.append(c.tokenIDs)
        }
        for c in new {
            requests.append(GenerationRequest(ids: c.inputIDs, adapter: try MethodFixtures.weights(c), parameters: c.parameters))
            expected.append(c.tokenIDs)
        }
        requests.append(GenerationRequest(ids: new[0].inputIDs, adapter: nil, parameters: new[0].parameters))
        expected.append(nil)
        #expect(Set(old.flatMap(\.adapters) + new.flatMap(\.adapters)).count >= 9)
        let batched = base.generate(requests)
        for (i, want) in expected.enumerated() {
            if let want { #expect(batched[i] == want, "request \(i)") }
        }
        for i in requests.indices {
            #expect(batched[i] == base.generate([requests[i]])[0], "request \(i) alone")
        }
    }
}
