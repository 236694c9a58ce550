import Foundation
import Numerics
import T5
import SafeTensors

/// AdaLoRA settings (peft_type "ADALORA"). Targeting is LoRA's; the rank of each module is what
/// the saved `rank_pattern` keeps (PEFT prunes the saved tensors to those triplets), or `init_r`.
public struct AdaLoRAConfig: Sendable, Equatable {
    public var targets = LoRAConfig()   // targets, layers_to_transform, layers_pattern, exclude_modules
    public var initR = 12
    public var loraAlpha: Double = 8
    /// Module key (e.g. "encoder.block.0.layer.0.SelfAttention.q") -> which of its init_r triplets are kept.
    public var rankPattern: [String: [Bool]] = [:]

    /// PEFT's SVDLinear at inference: result += (x @ (A * E).T @ B.T) * scaling / (ranknum + 1e-5),
    /// scaling = lora_alpha (or the rank when lora_alpha <= 0) and ranknum the rank the module was
    /// created with: init_r, which resize_modules_by_rank_pattern copies back after pruning.
    public func scale(rank: Int) -> Float {
        let scaling = loraAlpha > 0 ? Float(loraAlpha) : Float(rank)
        return scaling / (Float(initR) + 1e-5)
    }

    public func rank(for key: String) -> Int { rankPattern[key].map { $0.filter { $0 }.count } ?? initR }
}

extension PEFTConfig {
    static func parseAdaLoRA(_ json: [String: Any]) throws(AdapterError) -> AdaLoRAConfig {
        guard let initR = (json["init_r"] as? NSNumber)?.intValue, initR > 0, initR <= 4096 else {
            throw .invalid("adapter_config.json: init_r must be a positive integer")
        }
        // LoRA's parser checks the shared fields (targets, layers, refused settings); AdaLoRA's
        // rank_pattern has another meaning and its r is unused.
        var loraJSON = json
        loraJSON["rank_pattern"] = nil
        loraJSON["alpha_pattern"] = nil
        loraJSON["r"] = initR
        var c = AdaLoRAConfig()
        c.targets = try parseLoRA(loraJSON)
        c.initR = initR
        c.loraAlpha = (json["lora_alpha"] as? NSNumber)?.doubleValue ?? 8
        if let pattern = json["rank_pattern"] as? [String: Any] {
            for (name, value) in pattern {
                guard let list = value as? [Any], list.count == initR, list.allSatisfy({ $0 is Bool || $0 is NSNumber }) else {
                    throw .invalid("rank_pattern[\(name)] must be a list of init_r (\(initR)) booleans")
                }
                c.rankPattern[moduleKey(name)] = list.map { ($0 as? Bool) ?? (($0 as? NSNumber)?.boolValue ?? false) }
            }
        } else if json["rank_pattern"] != nil, !(json["rank_pattern"] is NSNull) {
            throw .invalid("rank_pattern must be an object of module name -> list of booleans")
        }
        return c
    }

    /// RankAllocator names a module by its lora_E parameter ("<module>.lora_E", with the adapter
    /// name when not stripped); PEFT drops those trailing parts to find the module.
    static func moduleKey(_ name: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let e = parts.lastIndex(of: "lora_E") { parts = Array(parts[..<e]) }
        var key = parts.joined(separator: ".")
        if key.hasPrefix("base_model.model.") { key.removeFirst("base_model.model.".count) }
        return key
    }
}

extension PEFTAdapter {
    /// Tensors: base_model.model.<module>.lora_A (rank, in), lora_B (out, rank), lora_E (rank, 1).
    /// A and E are folded into one factor (A * E, exactly PEFT's elementwise product) so the
    /// module runs as a low-rank delta like LoRA's.
    static func loadAdaLoRA(_ ada: AdaLoRAConfig, config: PEFTConfig, tensors: SafeTensors,
                            base: T5ForConditionalGeneration, sha: String) throws(AdapterError) -> PEFTAdapter {
        let targeted = base.linearSites.filter { ada.targets.targets($0) }
        let unknown = Set(ada.rankPattern.keys).subtracting(targeted).sorted()
        guard unknown.isEmpty else {
            throw .mismatch("rank_pattern names module(s) the config does not target on this base model: \(unknown.prefix(3).joined(separator: ", "))")
        }
        var deltas = [LowRankDelta?](repeating: nil, count: base.linearSites.count)
        var expected = Set<String>()
        var names = Set<String>()
        var parameters = 0, ranks: [Int] = []
        for (site, key) in base.linearSites.enumerated() where ada.targets.targets(key) {
            let r = ada.rank(for: key)
            let shape = base.linearShape(site)
            let prefix = keyPrefix + key
            expected.formUnion([prefix + ".lora_A", prefix + ".lora_B", prefix + ".lora_E"])
            names.insert(String(key.split(separator: ".").last!))
            ranks.append(r)
            guard r > 0 else { continue }   // every triplet pruned: PEFT adds nothing here
            let a = try tensor(tensors, prefix + ".lora_A", shape: [r, shape.in])
            let b = try tensor(tensors, prefix + ".lora_B", shape: [shape.out, r])
            let e = try tensor(tensors, prefix + ".lora_E", shape: [r, 1])
            var ae = a.storage   // (r, in) = A * E
            for i in 0..<r { for j in 0..<shape.in { ae[i * shape.in + j] *= e.storage[i] } }
            deltas[site] = LowRankDelta(a: Tensor(shape: [r, shape.in], storage: ae), b: b, scale: ada.scale(rank: r))
            parameters += a.count + b.count + e.count
        }
        guard !targeted.isEmpty else {
            throw .mismatch("this AdaLoRA's target_modules match no Linear layer of the base model (T5 names: q, k, v, o, wi, wi_0, wi_1, wo)")
        }
        let extra = Set(tensors.tensors.keys).subtracting(expected).sorted()
        guard extra.isEmpty else {
            throw .mismatch("adapter_model.safetensors has tensor(s) the config does not target on this base model: \(extra.prefix(3).joined(separator: ", "))\(extra.count > 3 ? ", ..." : "") (adapter made for another model?)")
        }
        let info = AdapterInfo(kind: .adalora, sha256: sha, rank: ranks.max(), targetModules: names.sorted(),
                               targetCount: targeted.count, virtualTokens: nil, parameterCount: parameters, bytes: parameters * 4)
        return PEFTAdapter(config: config, weights: AdapterWeights(deltas: deltas, promptEmbeddings: nil), info: info)
    }
}
