import Foundation
import Numerics
import Testing
@testable import Adapters
@testable import T5
import SafeTensors

/// `LoRAMerge` against PEFT's merge_and_unload() (float32) and transformers' generation from the
/// merged model, on every LoRA, DoRA, AdaLoRA and IA3 adapter of the tiny fixture models.
@Suite struct LoRAMergeTests {
    @Test func everyFixtureWeightAdapterHasAMergeReference() {
        #expect(MergeFixtures.cases("merged") == [
            "tiny-flan/adalora-qvwo", "tiny-flan/dora-all-rslora", "tiny-flan/dora-qv", "tiny-flan/ia3-all", "tiny-flan/ia3-default",
            "tiny-flan/lora-all-rslora", "tiny-flan/lora-patterns", "tiny-flan/lora-qv", "tiny-flan/lora-regex",
            "tiny-t5v1/adalora-qv", "tiny-t5v1/dora-qv", "tiny-t5v1/ia3-default", "tiny-t5v1/lora-qv"])
    }

    @Test("merged tensors equal PEFT's within 1e-6 of each tensor's max |value|; the snapshot generates transformers' tokens",
          arguments: MergeFixtures.cases("merged"))
    func mergeMatchesPEFT(_ id: String) throws {
        let (model, adapter) = (String(id.split(separator: "/")[0]), String(id.split(separator: "/")[1]))
        let reference = MergeFixtures.root.appendingPathComponent("\(model)/merged/\(adapter)")
        let expected = try MergeFixtures.json(reference.appendingPathComponent("expected.json"))
        let changed = try SafeTensors(mapping: reference.appendingPathComponent("changed.safetensors").path)
        let base = try SafeTensors(mapping: MergeFixtures.models.appendingPathComponent("\(model)/model.safetensors").path)
        let out = try MergeFixtures.scratch().appendingPathComponent("merged")
        let summary = try LoRAMerge.merge(model: MergeFixtures.models.appendingPathComponent(model),
                                          adapter: MergeFixtures.adapter(model, adapter), out: out)
        #expect(summary.merged == expected["changed"] as? [String])
        let merged = try SafeTensors(mapping: out.appendingPathComponent("model.safetensors").path)
        #expect(merged.tensors.keys.sorted() == expected["tensors"] as? [String])
        #expect(merged.tensors.values.allSatisfy { $0.dtype == .f32 })
        for (name, info) in merged.tensors {
            let ours = try merged.floats(info)
            if let peft = changed.tensors[name] {
                let check = MergeFixtures.withinContract(ours, try changed.floats(peft))
                #expect(check.ok, "\(name): max error \(check.error), max |value| \(check.scale)")
            } else {
                #expect(ours == (try base.floats(name)), "\(name) should be the base's, unchanged")
            }
        }
        #expect(changed.tensors.count == summary.merged.count)
        // Config copied; the snapshot loads in our own T5 and generates what transformers
        // generates from PEFT's merged model, which is also what our base + adapter generates.
        #expect(try Data(contentsOf: out.appendingPathComponent("config.json"))
                == Data(contentsOf: MergeFixtures.models.appendingPathComponent("\(model)/config.json")))
        let mergedModel = try T5ForConditionalGeneration(directory: out)
        let baseModel = try T5ForConditionalGeneration(directory: MergeFixtures.models.appendingPathComponent(model))
        let weights = try PEFTAdapter.load(directory: MergeFixtures.adapter(model, adapter), base: baseModel).weights
        for g in try MergeFixtures.generations(expected) {
            #expect(mergedModel.generate([g.request])[0] == g.tokens, "\(g.id): merged snapshot")
            let withAdapter = GenerationRequest(ids: g.request.ids, adapter: weights, parameters: g.request.parameters)
            #expect(baseModel.generate([withAdapter])[0] == g.tokens, "\(g.id): base + adapter")
        }
        try? FileManager.default.removeItem(at: out.deletingLastPathComponent())
    }

    /// --dtype bf16 stores exactly the bf16 rounding of the fp32 merge, and still loads.
    @Test func bf16SnapshotIsTheRoundedFP32Merge() throws {
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let model = MergeFixtures.models.appendingPathComponent("tiny-flan")
        let adapter = MergeFixtures.adapter("tiny-flan", "lora-qv")
        _ = try LoRAMerge.merge(model: model, adapter: adapter, out: scratch.appendingPathComponent("fp32"))
        _ = try LoRAMerge.merge(model: model, adapter: adapter, out: scratch.appendingPathComponent("bf16"), dtype: .bf16)
        let f32 = try SafeTensors(mapping: scratch.appendingPathComponent("fp32/model.safetensors").path)
        let b16 = try SafeTensors(mapping: scratch.appendingPathComponent("bf16/model.safetensors").path)
        #expect(Set(f32.tensors.keys) == Set(b16.tensors.keys))
        for (name, info) in b16.tensors {
            #expect(info.dtype == .bf16)
            #expect(try b16.floats(info) == (try f32.floats(name)).map { bf16ToFloat(floatToBF16($0)) }, "\(name)")
        }
        _ = try T5ForConditionalGeneration(directory: scratch.appendingPathComponent("bf16"))
    }

    @Test func softPromptsCannotBeMerged() throws {
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        #expect {
            try LoRAMerge.merge(model: MergeFixtures.models.appendingPathComponent("tiny-flan"),
                                adapter: MergeFixtures.adapter("tiny-flan", "prompt-20"), out: out)
        } throws: { ($0 as? AdapterError)?.code == "unsupported_adapter" && "\($0)".contains("soft prompt") }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    /// Prefixes, like soft prompts, add key/value rows rather than change weights: nothing to merge.
    @Test(arguments: ["prefix-6", "prefix-proj-4"])
    func prefixesCannotBeMerged(_ name: String) throws {
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        #expect {
            try LoRAMerge.merge(model: MergeFixtures.models.appendingPathComponent("tiny-flan"),
                                adapter: MergeFixtures.adapter("tiny-flan", name), out: out)
        } throws: { ($0 as? AdapterError)?.code == "unsupported_adapter" && "\($0)".contains("prefix tuning") && "\($0)".contains("merge_and_unload") }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    /// A non-empty --out is never overwritten.
    @Test func existingOutputIsLeftAlone() throws {
        let scratch = try MergeFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let keep = scratch.appendingPathComponent("keep.txt")
        try Data("mine".utf8).write(to: keep)
        #expect {
            try LoRAMerge.merge(model: MergeFixtures.models.appendingPathComponent("tiny-flan"),
                                adapter: MergeFixtures.adapter("tiny-flan", "lora-qv"), out: scratch)
        } throws: { ($0 as? AdapterError)?.code == "invalid_output" }
        #expect(try String(contentsOf: keep, encoding: .utf8) == "mine")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["keep.txt"])
    }
}
