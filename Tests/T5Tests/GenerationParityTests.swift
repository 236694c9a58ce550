import Foundation
import SafeTensors
import Testing
import Numerics
@testable import T5

/// Token-exact parity with transformers' generate on the committed tiny checkpoints.
@Suite struct GenerationParityTests {
    @Test("generate matches transformers", arguments: ReferenceCase.baseOnly)
    func matchesTransformers(_ c: ReferenceCase) throws {
        let model = try ModelCache.shared.model(c.model)
        let out = model.generate([GenerationRequest(ids: c.inputIDs, parameters: c.parameters)])[0]
        #expect(out == c.tokenIDs)
    }

    @Test("first-step logits match within 3e-5 of the logit scale", arguments: ReferenceCase.baseOnly.filter(\.hasLogits))
    func firstStepLogits(_ c: ReferenceCase) throws {
        let model = try ModelCache.shared.model(c.model)
        let reference = try SafeTensors(mapping: FixturePaths.models.appendingPathComponent(c.model)
            .appendingPathComponent("logits.safetensors").path).floats(c.id)
        let encoded = model.encode([EncoderInput(ids: c.inputIDs)])
        var states = [model.makeDecoderState(encoded[0])]
        let logits = model.decodeStep(&states, tokens: [model.config.decoderStartTokenID])
        #expect(logits.count == reference.count)
        let maxError = zip(logits, reference).map { abs($0 - $1) }.max() ?? .infinity
        print("max |logit error| \(c.model)/\(c.id): \(maxError)")
        // Relative to the logits' scale (random tiny models have logits in the tens).
        let scale = max(1, reference.map(abs).max() ?? 1)
        #expect(maxError < 3e-5 * scale, "max error \(maxError), logit scale \(scale)")
    }

    /// fp32 greedy steps take the lm_head's two planes (the parity test above then holds that
    /// path to transformers): every step of a greedy decode, with and without a masked token,
    /// gives the token the full logits give.
    @Test("an fp32 greedy step chooses from the lm_head's planes the token the full logits give")
    func greedyStepsUsePlanes() throws {
        for name in ReferenceCase.modelNames {
            let model = try ModelCache.shared.model(name)
            #expect(model.weightFormat == .fp32 && model.lmHead.planes != nil, "\(name)")
            let c = try #require(ReferenceCase.load(model: name).first)
            let encoded = model.encode([EncoderInput(ids: c.inputIDs)])
            var full = [model.makeDecoderState(encoded[0])], greedy = full
            var token = model.config.decoderStartTokenID
            for step in 0..<8 {
                let logits = model.decodeStep(&full, tokens: [token])
                var best = 0
                for i in 1..<logits.count where logits[i] > logits[best] { best = i }
                let mask: [Int32] = step % 2 == 0 ? [] : [Int32(best)]
                var second = best == 0 ? 1 : 0
                for i in 0..<logits.count where i != best && logits[i] > logits[second] { second = i }
                guard case .greedy(let chosen) = model.decodeStep(&greedy, tokens: [token], greedyMasks: [mask]) else {
                    Issue.record("\(name) step \(step): the full logits, not the greedy token"); return
                }
                #expect(chosen == [Int32(mask.isEmpty ? best : second)], "\(name) step \(step)")
                token = Int32(best)
            }
        }
    }

    @Test func fixturesArePresent() {
        for name in ReferenceCase.modelNames {
            #expect(ReferenceCase.load(model: name).count >= 10, "Tests/Fixtures/models/\(name)/expected.json missing or short")
        }
    }

    /// Several requests of different lengths and settings decoded together give what each gives alone.
    @Test func batchedEqualsOneByOne() throws {
        for name in ReferenceCase.modelNames {
            let cases = ReferenceCase.load(model: name).filter { $0.adapters.isEmpty }
            try #require(!cases.isEmpty)
            let model = try ModelCache.shared.model(name)
            let requests = cases.map { GenerationRequest(ids: $0.inputIDs, parameters: $0.parameters) }
            let batched = model.generate(requests)
            for (i, r) in requests.enumerated() {
                #expect(batched[i] == model.generate([r])[0], "\(name)/\(cases[i].id)")
            }
        }
    }

    @Test func seededSamplingIsReproducible() throws {
        let model = try ModelCache.shared.model("tiny-flan")
        var p = GenerationParameters()
        p.doSample = true; p.temperature = 0.9; p.topK = 40; p.topP = 0.95; p.maxNewTokens = 16; p.seed = 1234
        let ids: [Int32] = [8774, 296, 1]
        let a = model.generate([GenerationRequest(ids: ids, parameters: p)])[0]
        let b = model.generate([GenerationRequest(ids: ids, parameters: p), GenerationRequest(ids: [5, 6, 1], parameters: p)])[0]
        #expect(a == b)
        p.seed = 4321
        let c = model.generate([GenerationRequest(ids: ids, parameters: p)])[0]
        #expect(a != c, "a different seed should sample differently on a random model")
    }
}
