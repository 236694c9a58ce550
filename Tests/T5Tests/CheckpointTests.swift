import Foundation
import SafeTensors
import Testing
import Numerics
@testable import T5

@Suite struct CheckpointTests {
    static let tinyConfig = """
    {"model_type": "t5", "vocab_size": 10, "d_model": 4, "d_kv": 2, "d_ff": 8, "num_layers": 1,
     "num_decoder_layers": 1, "num_heads": 2, "relative_attention_num_buckets": 4,
     "relative_attention_max_distance": 8, "feed_forward_proj": "relu", "tie_word_embeddings": true}
    """

    /// Every tensor a 1+1-layer relu T5 with this config needs, all ones.
    static func tensors(_ c: T5Config) -> [SafeTensorsWriter.Entry] {
        var shapes: [(String, [Int])] = [("shared.weight", [c.vocabSize, c.dModel])]
        for stack in ["encoder", "decoder"] {
            let p = "\(stack).block.0"
            for m in ["q", "k", "v"] { shapes.append(("\(p).layer.0.SelfAttention.\(m).weight", [c.innerDim, c.dModel])) }
            shapes.append(("\(p).layer.0.SelfAttention.o.weight", [c.dModel, c.innerDim]))
            shapes.append(("\(p).layer.0.SelfAttention.relative_attention_bias.weight", [c.relativeAttentionNumBuckets, c.numHeads]))
            shapes.append(("\(p).layer.0.layer_norm.weight", [c.dModel]))
            let ff = stack == "encoder" ? 1 : 2
            if stack == "decoder" {
                for m in ["q", "k", "v"] { shapes.append(("\(p).layer.1.EncDecAttention.\(m).weight", [c.innerDim, c.dModel])) }
                shapes.append(("\(p).layer.1.EncDecAttention.o.weight", [c.dModel, c.innerDim]))
                shapes.append(("\(p).layer.1.layer_norm.weight", [c.dModel]))
            }
            shapes.append(("\(p).layer.\(ff).DenseReluDense.wi.weight", [c.dFF, c.dModel]))
            shapes.append(("\(p).layer.\(ff).DenseReluDense.wo.weight", [c.dModel, c.dFF]))
            shapes.append(("\(p).layer.\(ff).layer_norm.weight", [c.dModel]))
            shapes.append(("\(stack).final_layer_norm.weight", [c.dModel]))
        }
        return shapes.map { .f32($0.0, shape: $0.1, values: Array(repeating: 0.5, count: $0.1.reduce(1, *))) }
    }

    func makeDir(_ entries: [SafeTensorsWriter.Entry], config: String = tinyConfig) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        if !entries.isEmpty { try SafeTensorsWriter.write(entries, to: dir.appendingPathComponent("model.safetensors")) }
        return dir
    }

    func loadError(_ dir: URL) -> String? {
        do { _ = try T5ForConditionalGeneration(directory: dir); return nil } catch { return error.message }
    }

    @Test func completeCheckpointLoadsAndRuns() throws {
        let c = try T5Config.parse(Data(Self.tinyConfig.utf8))
        let dir = try makeDir(Self.tensors(c))
        let model = try T5ForConditionalGeneration(directory: dir)
        var p = GenerationParameters(); p.maxNewTokens = 3
        let out = model.generate([GenerationRequest(ids: [3, 4, 1], parameters: p)])[0]
        #expect(out.count == 3)
    }

    @Test func missingTensorIsNamed() throws {
        let c = try T5Config.parse(Data(Self.tinyConfig.utf8))
        let dir = try makeDir(Self.tensors(c).filter { $0.name != "decoder.block.0.layer.1.EncDecAttention.k.weight" })
        #expect(loadError(dir)?.contains("decoder.block.0.layer.1.EncDecAttention.k.weight") == true)
    }

    @Test func extraTensorIsNamed() throws {
        let c = try T5Config.parse(Data(Self.tinyConfig.utf8))
        let dir = try makeDir(Self.tensors(c) + [.f32("encoder.block.7.layer.0.SelfAttention.q.weight", shape: [1], values: [0])])
        #expect(loadError(dir)?.contains("encoder.block.7.layer.0.SelfAttention.q.weight") == true)
    }

    @Test func misShapedTensorIsNamed() throws {
        let c = try T5Config.parse(Data(Self.tinyConfig.utf8))
        var entries = Self.tensors(c).filter { $0.name != "encoder.final_layer_norm.weight" }
        entries.append(.f32("encoder.final_layer_norm.weight", shape: [5], values: Array(repeating: 1, count: 5)))
        let message = loadError(try makeDir(entries))
        #expect(message?.contains("encoder.final_layer_norm.weight") == true)
        #expect(message?.contains("[5]") == true)
    }

    @Test func pickleCheckpointIsRefusedWithAdvice() throws {
        let dir = try makeDir([])
        try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("pytorch_model.bin"))
        let message = loadError(dir)
        #expect(message?.contains("pytorch_model.bin") == true)
        #expect(message?.contains("safe_serialization") == true)
    }

    /// The tiny FLAN fixture split into two shards with an index must be the same model: it
    /// generates transformers' tokens for every base case, as the single file does.
    @Test func shardedCheckpointEqualsSingleFile() throws {
        let source = FixturePaths.models.appendingPathComponent("tiny-flan")
        let file = try SafeTensors(mapping: source.appendingPathComponent("model.safetensors").path)
        let entries = file.tensors.keys.sorted().map { name in
            let info = file.tensors[name]!
            return SafeTensorsWriter.Entry(name: name, dtype: info.dtype, shape: info.shape, data: Data(file.rawBytes(info)))
        }
        let dir = try makeDir([])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        let half = entries.count / 2
        let shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        try SafeTensorsWriter.write(Array(entries[..<half]), to: dir.appendingPathComponent(shards[0]))
        try SafeTensorsWriter.write(Array(entries[half...]), to: dir.appendingPathComponent(shards[1]))
        var map: [String: String] = [:]
        for (i, e) in entries.enumerated() { map[e.name] = shards[i < half ? 0 : 1] }
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path))

        let sharded = try T5ForConditionalGeneration(directory: dir)
        let cases = ReferenceCase.baseOnly.filter { $0.model == "tiny-flan" }
        #expect(!cases.isEmpty)
        for c in cases {
            let tokens = sharded.generate([GenerationRequest(ids: c.inputIDs, adapter: nil, parameters: c.parameters)])[0]
            #expect(tokens == c.tokenIDs, "\(c.id)")
        }
    }

    @Test
    func realFlanConfigParses() throws {
        let c = try T5Config.load(directory: FixturePaths.flanTokenizer)
        #expect(c.dModel == 768 && c.dKV == 64 && c.dFF == 2048 && c.numHeads == 12)
        #expect(c.numLayers == 12 && c.numDecoderLayers == 12 && c.vocabSize == 32128)
        let act = try c.activation
        #expect(c.isGatedActivation && act == .geluTanh)
        #expect(c.tieWordEmbeddings == false && c.scaleDecoderOutputs == false)
        #expect(c.relativeAttentionNumBuckets == 32 && c.relativeAttentionMaxDistance == 128)
        #expect(c.decoderStartTokenID == 0 && c.eosTokenID == 1 && c.padTokenID == 0)
    }

    @Test func badConfigsAreRefused() {
        #expect(throws: ModelError.self) { try T5Config.parse(Data("[1]".utf8)) }
        #expect(throws: ModelError.self) { try T5Config.parse(Data(#"{"model_type": "bart"}"#.utf8)) }
        #expect(throws: ModelError.self) { try T5Config.parse(Data(#"{"feed_forward_proj": "gated-weird"}"#.utf8)) }
        #expect(throws: ModelError.self) { try T5Config.parse(Data(#"{"d_model": -3}"#.utf8)) }
    }
}
