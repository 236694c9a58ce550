import Foundation
import Numerics
import T5
import SafeTensors

/// Prefix tuning settings (peft_type "PREFIX_TUNING"). PEFT saves the prefix table already
/// projected (get_prompt_embedding_to_save runs the prefix_projection MLP), so with or without a
/// projection the file holds prompt_embeddings (num_virtual_tokens, num_layers * 2 * token_dim)
/// and inference uses it as is: the MLP has run once, at save.
public struct PrefixTuningConfig: Sendable, Equatable {
    public var numVirtualTokens: Int
    public var numLayers: Int?
    public var numAttentionHeads: Int?
    public var tokenDim: Int?
    public var numTransformerSubmodules: Int
    public var prefixProjection: Bool
}

extension PEFTConfig {
    static func parsePrefix(_ json: [String: Any]) throws(AdapterError) -> PrefixTuningConfig {
        guard let n = (json["num_virtual_tokens"] as? NSNumber)?.intValue, n > 0, n <= 4096 else {
            throw .invalid("adapter_config.json: num_virtual_tokens must be a positive integer")
        }
        func int(_ key: String) -> Int? { (json[key] as? NSNumber)?.intValue }
        let subs = int("num_transformer_submodules") ?? 2
        guard subs == 2 else {
            throw .unsupported("prefix tuning with num_transformer_submodules \(subs) is not supported: PEFT builds a T5 decoder cache from a prefix only with 2")
        }
        return PrefixTuningConfig(numVirtualTokens: n, numLayers: int("num_layers"), numAttentionHeads: int("num_attention_heads"),
                                  tokenDim: int("token_dim"), numTransformerSubmodules: subs,
                                  prefixProjection: (json["prefix_projection"] as? Bool) ?? false)
    }
}

extension PEFTAdapter {
    /// PEFT (get_prompt): the table is viewed as (P, num_layers * 2, heads, head_dim), doubled along
    /// the layer axis for the two transformer submodules, and split into num_layers groups of four
    /// (self key, self value, cross key, cross value); only the self-attention pair reaches T5.
    /// So decoder layer i takes its key from table block (4i) mod (2 num_layers) and its value from
    /// the next block, each (P, token_dim) = (P, heads * d_kv) in our cache's row layout.
    static func loadPrefix(_ prefix: PrefixTuningConfig, config: PEFTConfig, tensors: SafeTensors,
                           base: T5ForConditionalGeneration, sha: String) throws(AdapterError) -> PEFTAdapter {
        let c = base.config
        let layers = c.numDecoderLayers, inner = c.innerDim
        // PEFT fills missing sizes from the config: num_layers (T5's ENCODER count), num_heads, d_model.
        let numLayers = prefix.numLayers ?? c.numLayers
        let heads = prefix.numAttentionHeads ?? c.numHeads
        let tokenDim = prefix.tokenDim ?? c.dModel
        guard numLayers == layers else {
            throw .mismatch("prefix tuning num_layers is \(numLayers) but the base model's decoder has \(layers) layers; PEFT itself fails on this (IndexError), so there is nothing to match. Train with PrefixTuningConfig(num_layers=\(layers))")
        }
        guard heads == c.numHeads, tokenDim == inner else {
            throw .mismatch("prefix tuning sizes a head as token_dim / num_attention_heads = \(tokenDim) / \(heads), but the base model's heads are \(c.numHeads) x d_kv \(c.dKV); PEFT itself fails on this (size mismatch). Train with PrefixTuningConfig(token_dim=\(inner), num_attention_heads=\(c.numHeads))")
        }
        let p = prefix.numVirtualTokens, width = 2 * numLayers * tokenDim
        let extra = Set(tensors.tensors.keys).subtracting(["prompt_embeddings"]).sorted()
        guard extra.isEmpty else { throw .invalid("unexpected tensor(s) in a prefix-tuning adapter: \(extra.prefix(3).joined(separator: ", "))") }
        let table = try tensor(tensors, "prompt_embeddings", shape: [p, width])   // (P, num_layers * 2 * token_dim)
        var keys: [[Float]] = [], values: [[Float]] = []
        for i in 0..<layers {
            let kBlock = (2 * prefix.numTransformerSubmodules * i) % (2 * numLayers)
            keys.append(block(table.storage, kBlock, rows: p, width: width, inner: inner))
            values.append(block(table.storage, kBlock + 1, rows: p, width: width, inner: inner))
        }
        let info = AdapterInfo(kind: .prefixTuning, sha256: sha, rank: nil, targetModules: nil, targetCount: nil,
                               virtualTokens: p, parameterCount: table.count, bytes: 2 * layers * p * inner * 4)
        return PEFTAdapter(config: config, weights: AdapterWeights(deltas: [], promptEmbeddings: nil,
                                                                   prefix: DecoderPrefix(length: p, keys: keys, values: values)),
                           info: info)
    }

    /// Rows p of table block j: (P, inner) out of (P, width).
    private static func block(_ table: [Float], _ j: Int, rows: Int, width: Int, inner: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(rows * inner)
        for r in 0..<rows { out.append(contentsOf: table[(r * width + j * inner)..<(r * width + (j + 1) * inner)]) }
        return out
    }
}
