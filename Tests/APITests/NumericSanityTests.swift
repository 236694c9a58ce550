import Adapters
import Foundation
import HTTPTesting
import Numerics
import T5
import Testing
@testable import Serving

/// Issue 11 item 3: adapters whose scale or weights would overflow Float32 are refused at upload
/// with 422, and a request whose logits still come out non-finite fails with a clear error
/// instead of answering with token 0.
@Suite(.serialized) struct NumericSanityTests {
    static let lora = Paths.tinyAdapters.appendingPathComponent("lora-qv")

    /// lora-qv with its config fields overridden.
    func variant(_ overrides: [String: Any]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("numeric-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.lora.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        for (k, v) in overrides { config[k] = v }
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("adapter_config.json"))
        try FileManager.default.copyItem(at: Self.lora.appendingPathComponent("adapter_model.safetensors"),
                                         to: dir.appendingPathComponent("adapter_model.safetensors"))
        return dir
    }

    @Test func overflowingScalesAreRefused() throws {
        let live = try LiveService()
        defer { live.stop() }
        let cases: [(String, [String: Any])] = [
            ("lora_alpha 1e308", ["lora_alpha": 1e308]),
            ("lora_alpha 1e30", ["lora_alpha": 1e30]),
            ("rsLoRA lora_alpha 1e30", ["lora_alpha": 1e30, "use_rslora": true]),
            ("alpha_pattern 1e30", ["alpha_pattern": ["q": 1e30]]),
            ("lora_alpha -1e30", ["lora_alpha": -1e30]),
        ]
        for (label, overrides) in cases {
            let r = try live.upload("huge", from: try variant(overrides))
            #expect(r.status == 422, "\(label): \(r.status) \(r.text)")
            #expect(r.errorCode == "invalid_adapter", "\(label): \(r.text)")
            #expect(r.errorMessage?.contains("scale") == true, "\(label): the message names the scale: \(r.text)")
        }
        #expect(try live.call("GET", "/v1/adapters/huge").status == 404)
        // The same weights at their trained scale are fine.
        #expect(try live.upload("sane", from: try variant(["lora_alpha": 64])).status == 201)
    }

    /// Weights the upload check would refuse, put straight into the engine: the request fails
    /// with non_finite_logits rather than emitting token 0, and the engine keeps serving.
    @Test func nonFiniteLogitsFailTheRequest() throws {
        let live = try LiveService()
        defer { live.stop() }
        let model = live.service.model
        let loaded = try PEFTAdapter.load(directory: Self.lora, base: model)
        let huge = AdapterWeights(deltas: loaded.weights.deltas.map { d in
            d.map { LowRankDelta(a: $0.a, b: Tensor(shape: $0.b.shape, storage: $0.b.storage.map { $0 * 1e30 }), scale: 1e30) }
        }, promptEmbeddings: nil)
        let adapter = ResolvedAdapter(name: "overflow", kind: "lora", sha256: "-", weights: huge)
        let ids = live.service.tokenizer.encode("Summarize: #Person1#: Hello there. #Person2#: Hi.")
        var parameters = GenerationParameters()
        parameters.maxNewTokens = 8
        for beams in [1, 3] {
            parameters.numBeams = beams
            let result = live.service.engine.generate(GenerationJob(ids: ids, parameters: parameters,
                                                                    resolveAdapter: { .success(adapter) }) { _ in })
            switch result {
            case .success(let out): Issue.record("num_beams \(beams): expected a failure, got tokens \(out.tokens)")
            case .failure(let e):
                #expect(e.code == "non_finite_logits", "num_beams \(beams): \(e)")
                #expect(e.message.contains("NaN or infinite"), "\(e.message)")
            }
        }
        let fine = live.service.engine.generate(GenerationJob(ids: ids, parameters: parameters) { _ in })
        #expect((try? fine.get().tokens.isEmpty) == false)
    }
}
