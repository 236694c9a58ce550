import Foundation
import SafeTensors
import Testing
import Numerics
@testable import Adapters
@testable import T5

@Suite struct AdapterLoadingTests {
    let base = TinyBase.model

    func loadError(_ files: (config: Data, weights: Data)) -> AdapterError? {
        do { _ = try PEFTAdapter.load(configData: files.config, weightsData: files.weights, base: base); return nil } catch { return error }
    }

    @Test func loraLoadsWithPEFTScaling() throws {
        let a = try PEFTAdapter.load(directory: TinyBase.write(TinyBase.loraFiles(r: 4, alpha: 8)), base: base)
        #expect(a.info.kind == .lora && a.info.rank == 4 && a.info.targetModules == ["q", "v"])
        // q, v in 2 encoder self-attentions + 3 decoder self + 3 decoder cross = 16 modules.
        #expect(a.info.targetCount == 16)
        let site = base.siteIndex["decoder.block.1.layer.1.EncDecAttention.v"]!
        #expect(a.weights.deltas[site]?.scale == 2)
        #expect(a.weights.deltas[base.siteIndex["decoder.block.1.layer.1.EncDecAttention.k"]!] == nil)
        #expect(a.info.sha256.count == 64)
    }

    @Test func loraChangesOutputButNotTheBase() throws {
        let a = try PEFTAdapter.load(configData: TinyBase.loraFiles().config, weightsData: TinyBase.loraFiles().weights, base: base)
        var p = GenerationParameters(); p.maxNewTokens = 6; p.ignoreEOS = true
        let ids: [Int32] = [5, 9, 14, 1]
        let plain = base.generate([GenerationRequest(ids: ids, parameters: p)])[0]
        let adapted = base.generate([GenerationRequest(ids: ids, adapter: a.weights, parameters: p)])[0]
        #expect(plain != adapted)
        #expect(base.generate([GenerationRequest(ids: ids, parameters: p)])[0] == plain)
    }

    @Test func mixedBatchEqualsSingleRuns() throws {
        let lora = try PEFTAdapter.load(configData: TinyBase.loraFiles(seed: 3).config, weightsData: TinyBase.loraFiles(seed: 3).weights, base: base)
        let other = try PEFTAdapter.load(configData: TinyBase.loraFiles(r: 2, targets: ["k", "o", "wi_0", "wo"], seed: 4).config,
                                         weightsData: TinyBase.loraFiles(r: 2, targets: ["k", "o", "wi_0", "wo"], seed: 4).weights, base: base)
        let prompt = try PEFTAdapter.load(configData: TinyBase.promptFiles().config, weightsData: TinyBase.promptFiles().weights, base: base)
        let both = AdapterWeights.combine([lora.weights, prompt.weights])
        var p = GenerationParameters(); p.maxNewTokens = 8; p.ignoreEOS = true
        var beams = p; beams.numBeams = 3; beams.ignoreEOS = false
        let requests = [
            GenerationRequest(ids: [3, 4, 5, 1], adapter: lora.weights, parameters: p),
            GenerationRequest(ids: [7, 1], adapter: nil, parameters: p),
            GenerationRequest(ids: [8, 9, 10, 11, 12, 1], adapter: other.weights, parameters: beams),
            GenerationRequest(ids: [3, 4, 5, 1], adapter: prompt.weights, parameters: p),
            GenerationRequest(ids: [13, 1], adapter: both, parameters: p),
            GenerationRequest(ids: [3, 4, 5, 1], adapter: lora.weights, parameters: beams),
        ]
        let batched = base.generate(requests)
        let single = requests.map { base.generate([$0])[0] }
        #expect(batched == single)
        #expect(Set(single.map { $0.map(String.init).joined(separator: ",") }).count >= 4, "adapters should change outputs")
    }

    @Test func wrongShapesAreTheBaseMismatchError() {
        var files = TinyBase.loraFiles()
        let st = try! SafeTensors(data: files.weights)
        let entries = st.tensors.values.map { info -> SafeTensorsWriter.Entry in
            let values = try! st.floats(info)
            if info.name.hasSuffix("encoder.block.0.layer.0.SelfAttention.q.lora_A.weight") {
                return .f32(info.name, shape: [4, 8], values: Array(values.prefix(32)))
            }
            return .f32(info.name, shape: info.shape, values: values)
        }
        files.weights = try! SafeTensorsWriter.serialize(entries)
        let e = loadError(files)
        #expect(e?.code == "adapter_base_mismatch")
        #expect(e?.message.contains("encoder.block.0.layer.0.SelfAttention.q.lora_A.weight") == true)
    }

    @Test func extraAndMissingTensorsAreRefused() {
        let files = TinyBase.loraFiles(targets: ["q", "v"])
        // Config claims k too, weights only have q and v.
        var cfg = try! JSONSerialization.jsonObject(with: files.config) as! [String: Any]
        cfg["target_modules"] = ["q", "k", "v"]
        #expect(loadError((try! JSONSerialization.data(withJSONObject: cfg), files.weights))?.message.contains("missing") == true)
        cfg["target_modules"] = ["q"]
        #expect(loadError((try! JSONSerialization.data(withJSONObject: cfg), files.weights))?.message.contains("does not target") == true)
    }

    @Test func promptFromAnotherModelIsRefused() {
        let cfg: [String: Any] = ["peft_type": "PROMPT_TUNING", "task_type": "SEQ_2_SEQ_LM", "num_virtual_tokens": 5, "token_dim": 768]
        let e = loadError((try! JSONSerialization.data(withJSONObject: cfg), TinyBase.promptFiles().weights))
        #expect(e?.code == "adapter_base_mismatch" && e?.message.contains("768") == true)
    }

    @Test func nonFiniteWeightsAreRefused() {
        let files = TinyBase.promptFiles()
        var values = try! SafeTensors(data: files.weights).floats("prompt_embeddings")
        values[3] = .nan
        let bad = try! SafeTensorsWriter.serialize([.f32("prompt_embeddings", shape: [10, 16], values: values)])
        #expect(loadError((files.config, bad))?.message.contains("NaN") == true)
    }

    @Test func pickleAdapterIsRefusedWithAdvice() throws {
        let dir = TinyBase.tempDir()
        try TinyBase.loraFiles().config.write(to: dir.appendingPathComponent("adapter_config.json"))
        try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("adapter_model.bin"))
        do { _ = try PEFTAdapter.load(directory: dir, base: base); Issue.record("loaded a pickle") } catch {
            #expect(error.message.contains("adapter_model.bin") && error.message.contains("safe_serialization"))
        }
    }
}

@Suite struct AdapterRegistryTests {
    let base = TinyBase.model

    func adapter(seed: UInt64) throws -> PEFTAdapter {
        let f = TinyBase.loraFiles(seed: seed)
        return try PEFTAdapter.load(configData: f.config, weightsData: f.weights, base: base)
    }

    @Test func replaceDoesNotAffectHolders() throws {
        let registry = AdapterRegistry(base: base)
        let old = try adapter(seed: 10), new = try adapter(seed: 11)
        try registry.register("a", adapter: old, source: nil)
        let held = try registry.acquire("a")
        try registry.register("a", adapter: new, source: nil)
        #expect(held.info.sha256 == old.info.sha256)
        #expect(try registry.acquire("a").info.sha256 == new.info.sha256)
        var p = GenerationParameters(); p.maxNewTokens = 5; p.ignoreEOS = true
        let before = base.generate([GenerationRequest(ids: [4, 1], adapter: old.weights, parameters: p)])[0]
        #expect(base.generate([GenerationRequest(ids: [4, 1], adapter: held.weights, parameters: p)])[0] == before)
    }

    @Test func lruEvictionRespectsPinsAndReloads() throws {
        let a = try adapter(seed: 20), b = try adapter(seed: 21), c = try adapter(seed: 22)
        let registry = AdapterRegistry(base: base, budgetBytes: a.info.bytes * 2)
        let dirs = [20, 21, 22].map { TinyBase.write(TinyBase.loraFiles(seed: UInt64($0))) }
        try registry.register("a", adapter: a, source: dirs[0], pinned: true)
        try registry.register("b", adapter: b, source: dirs[1])
        try registry.register("c", adapter: c, source: dirs[2])     // evicts b (a is pinned)
        #expect(registry.summary("b")?.loaded == false)
        #expect(registry.summary("a")?.loaded == true && registry.summary("c")?.loaded == true)
        #expect(registry.evictions == 1)
        #expect(try registry.acquire("b").info.sha256 == b.info.sha256)   // reloaded from disk, evicting c
        #expect(registry.summary("c")?.loaded == false)
        #expect(registry.loadedBytes <= registry.budgetBytes)
    }

    @Test func budgetFullOfPinnedAdaptersRefusesClearly() throws {
        let a = try adapter(seed: 30), b = try adapter(seed: 31)
        let registry = AdapterRegistry(base: base, budgetBytes: a.info.bytes)
        try registry.register("a", adapter: a, source: nil, pinned: true)
        #expect(throws: AdapterError.self) { try registry.register("b", adapter: b, source: nil) }
        #expect(registry.summary("a")?.loaded == true)
    }

    @Test func concurrentReplaceAndUseNeverMixes() throws {
        let registry = AdapterRegistry(base: base)
        let versions = try (0..<4).map { try adapter(seed: 40 + UInt64($0)) }
        var params = GenerationParameters(); params.maxNewTokens = 4; params.ignoreEOS = true
        let p = params
        let expected = Dictionary(uniqueKeysWithValues: versions.map {
            ($0.info.sha256, base.generate([GenerationRequest(ids: [6, 2, 1], adapter: $0.weights, parameters: p)])[0])
        })
        try registry.register("x", adapter: versions[0], source: nil)
        DispatchQueue.concurrentPerform(iterations: 24) { i in
            if i % 3 == 0 {
                try? registry.register("x", adapter: versions[i % 4], source: nil)
            } else if let held = try? registry.acquire("x") {
                let out = base.generate([GenerationRequest(ids: [6, 2, 1], adapter: held.weights, parameters: p)])[0]
                #expect(out == expected[held.info.sha256])
            }
        }
    }
}
