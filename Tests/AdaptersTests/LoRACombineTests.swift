import Foundation
import Numerics
import Testing
@testable import Adapters
@testable import T5
import SafeTensors

/// `LoRACombine` (LoRA, DoRA) and `IA3Combine` against PEFT's add_weighted_adapter (cat|linear;
/// IA3's own weighted sum) as saved by save_pretrained, and against the tokens PEFT generates
/// with the combined adapter.
@Suite struct LoRACombineTests {
    @Test func everyCombinationHasAReference() {
        #expect(MergeFixtures.cases("combined") == [
            "tiny-flan/cat-dora-first", "tiny-flan/cat-lora-first-dora", "tiny-flan/cat-patterns-first", "tiny-flan/cat-qv-patterns",
            "tiny-flan/cat-regex-pair", "tiny-flan/cat-rslora-first", "tiny-flan/ia3-all-default", "tiny-flan/ia3-regex-pair",
            "tiny-flan/linear-dora-pair", "tiny-flan/linear-regex", "tiny-flan/linear-regex-negative",
            "tiny-t5v1/cat-dora-qv", "tiny-t5v1/cat-qv", "tiny-t5v1/ia3-default-qwi", "tiny-t5v1/linear-qv"])
    }

    @Test("combined adapter equals PEFT's (tensors within 1e-6 of max |value|, config) and generates PEFT's tokens",
          arguments: MergeFixtures.cases("combined"))
    func combineMatchesPEFT(_ id: String) throws {
        let model = String(id.split(separator: "/")[0])
        let reference = MergeFixtures.root.appendingPathComponent("\(model)/combined/\(id.split(separator: "/")[1])")
        let expected = try MergeFixtures.json(reference.appendingPathComponent("expected.json"))
        let names = try #require(expected["adapters"] as? [String])
        let weights = try #require(expected["weights"] as? [Double])
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("combined")
        let ia3 = expected["combination"] as? String == "ia3"
        try Self.combine(model: model, names: names, weights: weights, combination: expected["combination"] as? String ?? "", out: out)

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
        if !ia3 {
            for key in ["r", "lora_alpha", "lora_dropout"] {
                #expect(ourConfig[key] as? Double != nil && ourConfig[key] as? Double == peftConfig[key] as? Double, "\(key)")
            }
        }
        for key in ["use_rslora", "use_dora", "peft_type", "task_type", "layers_to_transform"] {
            #expect("\(ourConfig[key] ?? "nil")" == "\(peftConfig[key] ?? "nil")", "\(key)")
        }
        for key in ia3 ? ["target_modules", "feedforward_modules"] : ["target_modules"] {
            if let list = peftConfig[key] as? [String] {
                #expect(Set(ourConfig[key] as? [String] ?? []) == Set(list), "\(key)")
            } else {
                #expect(ourConfig[key] as? String == peftConfig[key] as? String, "\(key)")
            }
        }

        let base = try T5ForConditionalGeneration(directory: MergeFixtures.models.appendingPathComponent(model))
        let adapter = try PEFTAdapter.load(directory: out, base: base)
        for g in try MergeFixtures.generations(expected) {
            let request = GenerationRequest(ids: g.request.ids, adapter: adapter.weights, parameters: g.request.parameters)
            #expect(base.generate([request])[0] == g.tokens, "\(g.id)")
        }
    }

    /// The fixture's combination: IA3's weighted sum, or cat|linear (with the base for a first DoRA).
    static func combine(model: String, names: [String], weights: [Double], combination: String, out: URL) throws {
        let adapters = names.map { MergeFixtures.adapter(model, $0) }
        if combination == "ia3" {
            _ = try IA3Combine.combine(adapters: adapters, weights: weights, out: out)
        } else {
            let kind = try #require(LoRACombine.Combination(rawValue: combination))
            _ = try LoRACombine.combine(adapters: adapters, weights: weights, combination: kind, out: out,
                                        model: MergeFixtures.models.appendingPathComponent(model))
        }
    }

    @Test("combinations PEFT refuses (or fails on) are refused", arguments: 0..<5)
    func peftRefusals(_ index: Int) throws {
        let file = try MergeFixtures.json(MergeFixtures.root.appendingPathComponent("combine-errors.json"))
        let cases = try #require(file["cases"] as? [[String: Any]])
        #expect(cases.count == 5)
        let c = cases[index]
        let model = c["model"] as! String
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        #expect {
            try Self.combine(model: model, names: c["adapters"] as! [String], weights: c["weights"] as! [Double],
                             combination: c["combination"] as! String, out: scratch.appendingPathComponent("out"))
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
        // A first DoRA adapter needs the base for PEFT's fresh magnitude vector.
        let dora = MergeFixtures.adapter("tiny-flan", "dora-qv")
        #expect {
            try LoRACombine.combine(adapters: [dora, qv], weights: [1, 1], combination: .cat, out: scratch.appendingPathComponent("d"))
        } throws: { "\($0)".contains("--model") }
        // PEFT holds adapters of one type per model: LoRA and IA3 do not combine.
        let ia3 = MergeFixtures.adapter("tiny-flan", "ia3-default")
        #expect {
            try LoRACombine.combine(adapters: [qv, ia3], weights: [1, 1], combination: .cat, out: scratch.appendingPathComponent("e"))
        } throws: { "\($0)".contains("IA3 adapters combine only with other IA3") }
        #expect {
            try IA3Combine.combine(adapters: [ia3, qv], weights: [1, 1], out: scratch.appendingPathComponent("f"))
        } throws: { "\($0)".contains("PEFT combines adapters of one type only") }
        #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent("d").path))
        // cat of one adapter is PEFT's linear: weight w gives A * sign(w) sqrt|w s| and B * sqrt|w s|.
        let summary = try LoRACombine.combine(adapters: [qv], weights: [0.5], combination: .cat, out: scratch.appendingPathComponent("c"))
        #expect(summary.combination == .linear && summary.rank == 32)
    }
}
