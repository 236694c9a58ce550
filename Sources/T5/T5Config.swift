import Foundation
import Numerics

/// The fields of a Hugging Face T5 `config.json` that change the computation. Defaults are
/// transformers' `T5Config` defaults, so an old or minimal config still loads the same way.
public struct T5Config: Sendable, Equatable {
    public var vocabSize = 32128
    public var dModel = 512
    public var dKV = 64
    public var dFF = 2048
    public var numLayers = 6
    public var numDecoderLayers = 6
    public var numHeads = 8
    public var relativeAttentionNumBuckets = 32
    public var relativeAttentionMaxDistance = 128
    public var layerNormEpsilon: Float = 1e-6
    public var feedForwardProj = "relu"
    /// Whether lm_head shares `shared.weight` when the checkpoint has no separate lm_head.
    public var tieWordEmbeddings = true
    /// T5 v1.0 scales the decoder output by d_model^-0.5 before the tied lm_head; v1.1/FLAN
    /// (tie_word_embeddings false) does not. transformers 5 names this `scale_decoder_outputs`.
    public var scaleDecoderOutputs = true
    public var decoderStartTokenID: Int32 = 0
    public var eosTokenID: Int32 = 1
    public var padTokenID: Int32 = 0

    public init() {}

    public var innerDim: Int { numHeads * dKV }
    public var isGatedActivation: Bool { feedForwardProj.hasPrefix("gated-") }

    /// `dense_act_fn` as transformers derives it: "gated-gelu" means the tanh GELU (gelu_new).
    public var activation: Kernels.Activation {
        get throws(ModelError) {
            if feedForwardProj == "gated-gelu" { return .geluTanh }
            let parts = feedForwardProj.split(separator: "-")
            guard parts.count <= 2, parts.count == 1 || parts[0] == "gated",
                  let act = Kernels.Activation(configName: String(parts.last ?? "")) else {
                throw ModelError("config.json: unsupported feed_forward_proj '\(feedForwardProj)' (expected relu, gelu, gated-gelu, silu or gated-silu)")
            }
            return act
        }
    }

    public static func load(directory: URL) throws(ModelError) -> T5Config {
        let url = directory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else {
            throw ModelError("config.json not found in \(directory.path): point --model at a Hugging Face T5 snapshot directory")
        }
        return try parse(data, source: url.path)
    }

    public static func parse(_ data: Data, source: String = "config.json") throws(ModelError) -> T5Config {
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw ModelError("\(source) is not a JSON object")
        }
        if let type = json["model_type"] as? String, !["t5", "mt5"].contains(type) {
            throw ModelError("\(source): model_type '\(type)' is not supported (expected t5)")
        }
        var c = T5Config()
        func int(_ key: String) throws(ModelError) -> Int? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue > 0 || key.hasSuffix("token_id") else {
                throw ModelError("\(source): \(key) must be a positive integer, got \(v)")
            }
            return n.intValue
        }
        if let v = try int("vocab_size") { c.vocabSize = v }
        if let v = try int("d_model") { c.dModel = v }
        if let v = try int("d_kv") { c.dKV = v }
        if let v = try int("d_ff") { c.dFF = v }
        if let v = try int("num_layers") { c.numLayers = v }
        c.numDecoderLayers = try int("num_decoder_layers") ?? c.numLayers
        if let v = try int("num_heads") { c.numHeads = v }
        if let v = try int("relative_attention_num_buckets") { c.relativeAttentionNumBuckets = v }
        if let v = try int("relative_attention_max_distance") { c.relativeAttentionMaxDistance = v }
        if let v = json["layer_norm_epsilon"] as? NSNumber { c.layerNormEpsilon = v.floatValue }
        if let v = json["feed_forward_proj"] as? String { c.feedForwardProj = v }
        if let v = json["tie_word_embeddings"] as? Bool { c.tieWordEmbeddings = v }
        c.scaleDecoderOutputs = (json["scale_decoder_outputs"] as? Bool) ?? c.tieWordEmbeddings
        if let v = try int("decoder_start_token_id") { c.decoderStartTokenID = Int32(v) }
        if let v = json["eos_token_id"] as? NSNumber { c.eosTokenID = v.int32Value }
        else if let v = json["eos_token_id"] as? [NSNumber], let first = v.first { c.eosTokenID = first.int32Value }
        if let v = try int("pad_token_id") { c.padTokenID = Int32(v) }
        _ = try c.activation
        return c
    }
}
