import Foundation
import SafeTensors
import Numerics
@testable import Adapters
@testable import T5

/// A small random T5 written to a temp directory, and helpers that write PEFT adapters for it.
enum TinyBase {
    static let config: T5Config = {
        var c = T5Config()
        c.vocabSize = 64; c.dModel = 16; c.dKV = 4; c.numHeads = 2; c.dFF = 32
        c.numLayers = 2; c.numDecoderLayers = 3; c.feedForwardProj = "gated-gelu"
        c.tieWordEmbeddings = false; c.scaleDecoderOutputs = false
        c.relativeAttentionNumBuckets = 8; c.relativeAttentionMaxDistance = 16
        return c
    }()

    static let model: T5ForConditionalGeneration = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-base-\(UUID().uuidString)")
        try! RandomCheckpoint.write(config: config, to: dir, seed: 42)
        return try! T5ForConditionalGeneration(config: config, checkpoint: Checkpoint(directory: dir))
    }()

    static func tempDir() -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A LoRA on q and v of every attention (the seeds' targets) with random factors.
    static func loraFiles(r: Int = 4, alpha: Double = 8, targets: [String] = ["q", "v"], seed: UInt64 = 1,
                          extraConfig: [String: Any] = [:]) -> (config: Data, weights: Data) {
        var rng = SplitMix64(seed: seed)
        var entries: [SafeTensorsWriter.Entry] = []
        for (site, key) in model.linearSites.enumerated() where targets.contains(where: { key.hasSuffix("." + $0) }) {
            let shape = model.linearShape(site)
            let a = (0..<(r * shape.in)).map { _ in Float(rng.nextUnitDouble() - 0.5) }
            let b = (0..<(shape.out * r)).map { _ in Float(rng.nextUnitDouble() - 0.5) }
            entries.append(.f32("base_model.model.\(key).lora_A.weight", shape: [r, shape.in], values: a))
            entries.append(.f32("base_model.model.\(key).lora_B.weight", shape: [shape.out, r], values: b))
        }
        var cfg: [String: Any] = ["peft_type": "LORA", "task_type": "SEQ_2_SEQ_LM", "r": r, "lora_alpha": alpha,
                                  "target_modules": targets, "bias": "none", "lora_dropout": 0.05, "use_rslora": false,
                                  "use_dora": false, "modules_to_save": NSNull(), "fan_in_fan_out": false]
        for (k, v) in extraConfig { cfg[k] = v }
        return (try! JSONSerialization.data(withJSONObject: cfg), try! SafeTensorsWriter.serialize(entries))
    }

    static func promptFiles(tokens: Int = 5, seed: UInt64 = 2) -> (config: Data, weights: Data) {
        var rng = SplitMix64(seed: seed)
        let rows = tokens * 2, d = config.dModel
        let values = (0..<(rows * d)).map { _ in Float(rng.nextUnitDouble() - 0.5) }
        let cfg: [String: Any] = ["peft_type": "PROMPT_TUNING", "task_type": "SEQ_2_SEQ_LM", "num_virtual_tokens": tokens,
                                  "token_dim": d, "num_transformer_submodules": 2]
        return (try! JSONSerialization.data(withJSONObject: cfg),
                try! SafeTensorsWriter.serialize([.f32("prompt_embeddings", shape: [rows, d], values: values)]))
    }

    static func write(_ files: (config: Data, weights: Data)) -> URL {
        let dir = tempDir()
        try! files.config.write(to: dir.appendingPathComponent("adapter_config.json"))
        try! files.weights.write(to: dir.appendingPathComponent("adapter_model.safetensors"))
        return dir
    }
}
