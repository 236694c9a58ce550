import Foundation
import Numerics
import T5
import SafeTensors

/// IA3 settings (peft_type "IA3"). Targeting follows PEFT's check_target_module_exists (as for
/// LoRA, without layers_to_transform); `feedforward_modules` picks the targeted layers whose
/// input, rather than output, is scaled.
public struct IA3Config: Sendable, Equatable {
    public enum FeedForward: Sendable, Equatable {
        case suffixes([String])   // PEFT: key.endswith(name), a plain string suffix (no dot)
        case regex(String)        // PEFT: re.fullmatch
    }
    public var targets = LoRAConfig()   // only targets and excludeModules are used
    public var feedforward: FeedForward = .suffixes([])

    public func isFeedForward(_ key: String) -> Bool {
        switch feedforward {
        case .suffixes(let names): names.contains { key.hasSuffix($0) }
        case .regex(let p): LoRAConfig.fullMatch(p, key)
        }
    }
}

extension PEFTConfig {
    static func parseIA3(_ json: [String: Any]) throws(AdapterError) -> IA3Config {
        let refused: [(String, String)] = [
            ("modules_to_save", "modules_to_save (fully fine-tuned extra modules) is not supported"),
            ("fan_in_fan_out", "fan_in_fan_out is for Conv1D models, not T5"),
        ]
        for (key, why) in refused where truthy(json[key]) {
            throw .unsupported("adapter_config.json: \(why); remove it or merge the adapter")
        }
        var c = IA3Config()
        // PEFT's defaults for T5 (TRANSFORMERS_MODELS_TO_IA3_*_MODULES_MAPPING["t5"]).
        c.targets.targets = try parseTargets(json["target_modules"], field: "target_modules") ?? .names(["k", "v", "wo"])
        if truthy(json["exclude_modules"]) {
            c.targets.excludeModules = try parseTargets(json["exclude_modules"], field: "exclude_modules")
        }
        switch json["feedforward_modules"] {
        case nil, is NSNull: c.feedforward = .suffixes(["wo"])
        case let s as String:
            guard (try? NSRegularExpression(pattern: s)) != nil else {
                throw .invalid("feedforward_modules: '\(s)' is not a valid regular expression")
            }
            c.feedforward = .regex(s)
        case let list as [Any]:
            let names = list.compactMap { $0 as? String }
            guard names.count == list.count else { throw .invalid("feedforward_modules must be a list of module names or a regex string") }
            if case .names(let targets) = c.targets.targets, !Set(names).isSubset(of: Set(targets)) {
                throw .invalid("feedforward_modules should be a subset of target_modules (PEFT refuses this config too)")
            }
            c.feedforward = .suffixes(names)
        default: throw .invalid("feedforward_modules must be a list of module names or a regex string")
        }
        return c
    }
}

extension PEFTAdapter {
    /// Tensors: base_model.model.<module>.ia3_l, (out, 1) for output scaling, (1, in) for the
    /// feed-forward layers whose input is scaled.
    static func loadIA3(_ ia3: IA3Config, config: PEFTConfig, tensors: SafeTensors,
                        base: T5ForConditionalGeneration, sha: String) throws(AdapterError) -> PEFTAdapter {
        var scales = [IA3Scale?](repeating: nil, count: base.linearSites.count)
        var expected = Set<String>()
        var names = Set<String>()
        var parameters = 0
        for (site, key) in base.linearSites.enumerated() where ia3.targets.targets(key) {
            let shape = base.linearShape(site)
            let input = ia3.isFeedForward(key)
            let name = keyPrefix + key + ".ia3_l"
            expected.insert(name)
            let v = try tensor(tensors, name, shape: input ? [1, shape.in] : [shape.out, 1])
            scales[site] = IA3Scale(vector: v.storage, scalesInput: input)
            names.insert(String(key.split(separator: ".").last!))
            parameters += v.count
        }
        guard !expected.isEmpty else {
            throw .mismatch("this IA3 adapter's target_modules match no Linear layer of the base model (T5 names: q, k, v, o, wi, wi_0, wi_1, wo)")
        }
        let extra = Set(tensors.tensors.keys).subtracting(expected).sorted()
        guard extra.isEmpty else {
            throw .mismatch("adapter_model.safetensors has tensor(s) the config does not target on this base model: \(extra.prefix(3).joined(separator: ", "))\(extra.count > 3 ? ", ..." : "") (adapter made for another model?)")
        }
        let info = AdapterInfo(kind: .ia3, sha256: sha, rank: nil, targetModules: names.sorted(), targetCount: expected.count,
                               virtualTokens: nil, parameterCount: parameters, bytes: parameters * 4)
        return PEFTAdapter(config: config, weights: AdapterWeights(deltas: [], promptEmbeddings: nil, ia3: scales), info: info)
    }
}
