import Foundation
import Numerics
import Testing
@testable import Adapters
@testable import T5
import SafeTensors

/// `LoRACombine` against PEFT's add_weighted_adapter(cat|linear) as saved by save_pretrained,
/// and against the tokens PEFT generates with the combined adapter.
@Suite struct LoRACombineTests {
    @Test func everyCombinationHasAReference() {
        #expect(MergeFixtures.cases("combined") == [
            "tiny-flan/cat-patterns-first", "tiny-flan/cat-qv-patterns", "tiny-flan/cat-regex-pair", "tiny-flan/cat-rslora-first",
            "tiny-flan/linear-regex", "tiny-flan/linear-regex-negative", "tiny-t5v1/cat-qv", "tiny-t5v1/linear-qv"])
    }

    @Test("combined adapter equals PEFT's (tensors within 1e-6 of max |value|, config) and generates PEFT's tokens",
          arguments: MergeFixtures.cases("combined"))
    func combineMatchesPEFT(_ id: String) throws {
        let model = String(id.split(separator: "/")[0])
        let reference = MergeFixtures.root.appendingPathComponent("\(model)/combined/\(id.split(separator: "/")[1])")
        let expected = try MergeFixtures.json(reference.appendingPathComponent("expected.json"))
        let names = try #require(expected["adapters"] as? [String])
        let weights = try #require(expected["weights"] as? [Double])
        let combination = try #require(LoRACombine.Combination(rawValue: expected["combination"] as? String ?? ""))
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("combined")
        _ = try LoRACombine.combine(adapters: names.map { MergeFixtures.adapter(model, $0) }, weights: weights,
                                    combination: combination, out: out)

        let ours = try SafeTensors(mapping: out.appendingPathComponent("adapter_model.safetensors").path)
        let peft = try SafeTensors(mapping: reference.appendingPathComponent("adapter_model.safetensors").path)
        #expect(Set(ours.tensors.keys) == Set(peft.tensors.keys))
        for (name, info) in peft.tensors {
            let mine = try #require(ours.tensors[name])
            #expect(mine.shape == info.shape, "\(name)")
            let check = MergeFixtures.withinContract(try ours.floats(mine), try peft.floats(info))
            #expect(check.ok, "\(name): max error \(check.error), max |value| \(check.scale)")
        }
        let ourConfig = try MergeFixtures.json(out.appendingPathComponent("adapter_config.json"))
        let peftConfig = try MergeFixtures.json(reference.appendingPathComponent("adapter_config.json"))
        for key in ["r", "lora_alpha", "lora_dropout"] {
            #expect(ourConfig[key] as? Double != nil && ourConfig[key] as? Double == peftConfig[key] as? Double, "\(key)")
        }
        for key in ["use_rslora", "peft_type", "task_type"] {
            #expect("\(ourConfig[key] ?? "nil")" == "\(peftConfig[key] ?? "nil")", "\(key)")
        }
        #expect("\(ourConfig["layers_to_transform"] ?? "nil")" == "\(peftConfig["layers_to_transform"] ?? "nil")")
        if let list = peftConfig["target_modules"] as? [String] {
            #expect(Set(ourConfig["target_modules"] as? [String] ?? []) == Set(list))
        } else {
            #expect(ourConfig["target_modules"] as? String == peftConfig["target_modules"] as? String)
        }

        let base = try T5ForConditionalGeneration(directory: MergeFixtures.models.appendingPathComponent(model))
        let adapter = try PEFTAdapter.load(directory: out, base: base)
        for g in try MergeFixtures.generations(expected) {
            let request = GenerationRequest(ids: g.request.ids, adapter: adapter.weights, parameters: g.request.parameters)
            #expect(base.generate([request])[0] == g.tokens, "\(g.id)")
        }
    }

    @Test("combinations PEFT refuses are refused", arguments: 0..<2)
    func peftRefusals(_ index: Int) throws {
        let file = try MergeFixtures.json(MergeFixtures.root.appendingPathComponent("combine-errors.json"))
        let cases = try #require(file["cases"] as? [[String: Any]])
        #expect(cases.count == 2)
        let c = cases[index]
        let model = c["model"] as! String
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        #expect {
            try LoRACombine.combine(adapters: (c["adapters"] as! [String]).map { MergeFixtures.adapter(model, $0) },
                                    weights: c["weights"] as! [Double],
                                    combination: LoRACombine.Combination(rawValue: c["combination"] as! String)!,
                                    out: scratch.appendingPathComponent("out"))
        } throws: { ($0 as? AdapterError)?.code == "unsupported_adapter" }
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("out").path))
    }

    @Test func badRequestsGetMessages() throws {
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let qv = MergeFixtures.adapter("tiny-flan", "lora-qv"), prompt = MergeFixtures.adapter("tiny-flan", "prompt-20")
        #expect {
            try LoRACombine.combine(adapters: [qv, qv], weights: [1], combination: .cat, out: scratch.appendingPathComponent("a"))
        } throws: { "\($0)".contains("one weight per adapter") }
        #expect {
            try LoRACombine.combine(adapters: [qv, prompt], weights: [1, 1], combination: .cat, out: scratch.appendingPathComponent("b"))
        } throws: { "\($0)".contains("soft prompt") }
        let dora = MergeFixtures.adapter("tiny-flan", "dora-qv")
        #expect {
            try LoRACombine.combine(adapters: [qv, dora], weights: [1, 1], combination: .cat, out: scratch.appendingPathComponent("d"))
        } throws: { "\($0)".contains("dora adapter; only plain LoRA") }
        // cat of one adapter is PEFT's linear: weight w gives A * sign(w) sqrt|w s| and B * sqrt|w s|.
        let summary = try LoRACombine.combine(adapters: [qv], weights: [0.5], combination: .cat, out: scratch.appendingPathComponent("c"))
        #expect(summary.combination == .linear && summary.rank == 32)
    }
}
