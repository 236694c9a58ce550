import Foundation

/// The adapter kinds we serve.
public enum AdapterKind: String, Sendable, Codable {
    case lora
    case promptTuning = "prompt_tuning"
    // PEFT methods beyond LoRA and soft prompts (issue 16): IA3.swift, DoRA.swift, AdaLoRA.swift.
    case ia3
    case dora
    case adalora
    case prefixTuning = "prefix_tuning"

    /// Whether the adapter changes the base model's Linear layers (all but soft prompts and
    /// prefixes): a request stacks at most one of these with at most one soft prompt or prefix.
    public var changesWeights: Bool { self != .promptTuning && self != .prefixTuning }
}

/// LoRA settings from a PEFT `adapter_config.json` (peft_type "LORA").
public struct LoRAConfig: Sendable, Equatable {
    public enum Targets: Sendable, Equatable {
        case names([String])   // a module matches if its key equals or ends with ".<name>"
        case regex(String)     // must match the whole key
    }
    public var r = 8
    public var loraAlpha: Double = 8
    public var targets: Targets = .names([])
    public var useRSLoRA = false
    public var rankPattern: [(String, Int)] = []
    public var alphaPattern: [(String, Double)] = []
    public var layersToTransform: [Int]?
    public var layersPattern: [String] = []
    public var excludeModules: Targets?
    /// DoRA (`use_dora`): see DoRA.swift.
    public var useDoRA = false

    public static func == (a: LoRAConfig, b: LoRAConfig) -> Bool {
        a.r == b.r && a.loraAlpha == b.loraAlpha && a.targets == b.targets && a.useRSLoRA == b.useRSLoRA
            && a.rankPattern.map(\.0) == b.rankPattern.map(\.0) && a.rankPattern.map(\.1) == b.rankPattern.map(\.1)
            && a.alphaPattern.map(\.0) == b.alphaPattern.map(\.0) && a.alphaPattern.map(\.1) == b.alphaPattern.map(\.1)
            && a.layersToTransform == b.layersToTransform && a.layersPattern == b.layersPattern && a.excludeModules == b.excludeModules
            && a.useDoRA == b.useDoRA
    }
}

/// Soft-prompt settings (peft_type "PROMPT_TUNING", or "P_TUNING" whose saved table is used as is).
public struct PromptTuningConfig: Sendable, Equatable {
    public var numVirtualTokens: Int
    public var tokenDim: Int?
    public var numTransformerSubmodules: Int
}

public enum PEFTConfig: Sendable, Equatable {
    case lora(LoRAConfig)
    case promptTuning(PromptTuningConfig)
    case ia3(IA3Config)
    case adalora(AdaLoRAConfig)
    case prefixTuning(PrefixTuningConfig)

    public var kind: AdapterKind {
        switch self {
        case .lora(let l): l.useDoRA ? .dora : .lora
        case .promptTuning: .promptTuning
        case .ia3: .ia3
        case .adalora: .adalora
        case .prefixTuning: .prefixTuning
        }
    }

    /// Parses and checks `adapter_config.json`. Settings we cannot honour exactly are refused,
    /// never ignored: serving an adapter differently from how it was trained is a silent bug.
    public static func parse(_ data: Data) throws(AdapterError) -> PEFTConfig {
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw .invalid("adapter_config.json is not a JSON object")
        }
        guard let peftType = json["peft_type"] as? String else {
            throw .invalid("adapter_config.json has no peft_type")
        }
        if let task = json["task_type"] as? String, task != "SEQ_2_SEQ_LM" {
            throw .unsupported("adapter task_type is \(task); AdapterServe serves T5 seq2seq adapters (task_type SEQ_2_SEQ_LM)")
        }
        switch peftType {
        case "LORA": return .lora(try parseLoRA(json))
        case "PROMPT_TUNING", "P_TUNING": return .promptTuning(try parsePrompt(json))
        case "IA3": return .ia3(try parseIA3(json))
        case "ADALORA": return .adalora(try parseAdaLoRA(json))
        case "PREFIX_TUNING": return .prefixTuning(try parsePrefix(json))
        default:
            throw .unsupported("peft_type \(peftType) is not supported; AdapterServe serves LORA (with or without use_dora), ADALORA, IA3, PREFIX_TUNING, PROMPT_TUNING and P_TUNING adapters")
        }
    }

    static func truthy(_ v: Any?) -> Bool {
        switch v {
        case nil, is NSNull: false
        case let b as Bool: b
        case let a as [Any]: !a.isEmpty
        case let d as [String: Any]: !d.isEmpty
        case let s as String: !s.isEmpty
        case let n as NSNumber: n.doubleValue != 0
        default: true
        }
    }

    /// A field that is present (and not null) must have the type PEFT writes: a string "16" for
    /// lora_alpha is an error, never silently the default.
    static func typed<T>(_ json: [String: Any], _ key: String, as: T.Type, _ what: String) throws(AdapterError) -> T? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        guard let typed = value as? T else { throw .invalid("adapter_config.json: \(key) must be \(what)") }
        return typed
    }

    static func parseLoRA(_ json: [String: Any]) throws(AdapterError) -> LoRAConfig {
        let refused: [(String, String)] = [
            ("modules_to_save", "modules_to_save (fully fine-tuned extra modules) is not supported"),
            ("fan_in_fan_out", "fan_in_fan_out is for Conv1D models, not T5"),
            ("lora_bias", "LoRA bias on lora_B (lora_bias) is not supported"),
            ("layer_replication", "layer_replication is not supported"),
            ("target_parameters", "target_parameters is not supported"),
            ("trainable_token_indices", "trainable_token_indices is not supported"),
            ("use_qalora", "QALoRA is not supported"),
            ("alora_invocation_tokens", "activated LoRA (alora_invocation_tokens) is not supported"),
            ("megatron_config", "megatron_config is not supported"),
        ]
        for (key, why) in refused where truthy(json[key]) {
            throw .unsupported("adapter_config.json: \(why); remove it or merge the adapter")
        }
        if let bias = json["bias"] as? String, bias != "none" {
            throw .unsupported("adapter_config.json: bias \"\(bias)\" is not supported (T5 linears have no bias); use bias \"none\"")
        }
        var c = LoRAConfig()
        guard let r = (json["r"] as? NSNumber)?.intValue, r > 0, r <= 4096 else {
            throw .invalid("adapter_config.json: r must be a positive integer")
        }
        c.r = r
        if let a = try typed(json, "lora_alpha", as: NSNumber.self, "a number") { c.loraAlpha = a.doubleValue }
        c.useRSLoRA = try typed(json, "use_rslora", as: Bool.self, "true or false") ?? false
        c.useDoRA = try typed(json, "use_dora", as: Bool.self, "true or false") ?? false
        c.targets = try parseTargets(json["target_modules"], field: "target_modules") ?? .names(["q", "v"])
        if truthy(json["exclude_modules"]) { c.excludeModules = try parseTargets(json["exclude_modules"], field: "exclude_modules") }
        if let rp = json["rank_pattern"] as? [String: Any] {
            for key in rp.keys.sorted() {
                guard let v = (rp[key] as? NSNumber)?.intValue, v > 0 else { throw .invalid("rank_pattern[\(key)] must be a positive integer") }
                try checkRegex(key, field: "rank_pattern")
                c.rankPattern.append((key, v))
            }
        }
        if let ap = json["alpha_pattern"] as? [String: Any] {
            for key in ap.keys.sorted() {
                guard let v = (ap[key] as? NSNumber)?.doubleValue else { throw .invalid("alpha_pattern[\(key)] must be a number") }
                try checkRegex(key, field: "alpha_pattern")
                c.alphaPattern.append((key, v))
            }
        }
        switch json["layers_to_transform"] {
        case let n as NSNumber: c.layersToTransform = [n.intValue]
        case let list as [Any]:
            let ints = list.compactMap { ($0 as? NSNumber)?.intValue }
            guard ints.count == list.count else { throw .invalid("layers_to_transform must be an integer or a list of integers") }
            c.layersToTransform = ints.isEmpty ? nil : ints
        case nil, is NSNull: break
        default: throw .invalid("layers_to_transform must be an integer or a list of integers")
        }
        switch json["layers_pattern"] {
        case let s as String: c.layersPattern = s.isEmpty ? [] : [s]
        case let list as [String]: c.layersPattern = list
        default: break
        }
        return c
    }

    static func parseTargets(_ value: Any?, field: String) throws(AdapterError) -> LoRAConfig.Targets? {
        switch value {
        case nil, is NSNull: return nil
        case let s as String:
            if s == "all-linear" { return .names(["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"]) }
            try checkRegex(s, field: field)
            return .regex(s)
        case let list as [Any]:
            let names = list.compactMap { $0 as? String }
            guard names.count == list.count else { throw .invalid("\(field) must be a list of module names or a regex string") }
            return .names(names)
        default:
            throw .invalid("\(field) must be a list of module names or a regex string")
        }
    }

    private static func checkRegex(_ pattern: String, field: String) throws(AdapterError) {
        guard (try? NSRegularExpression(pattern: pattern)) != nil else {
            throw .invalid("\(field): '\(pattern)' is not a valid regular expression")
        }
    }

    private static func parsePrompt(_ json: [String: Any]) throws(AdapterError) -> PromptTuningConfig {
        guard let n = (json["num_virtual_tokens"] as? NSNumber)?.intValue, n > 0, n <= 4096 else {
            throw .invalid("adapter_config.json: num_virtual_tokens must be a positive integer")
        }
        let dim = (json["token_dim"] as? NSNumber)?.intValue
        let subs = (json["num_transformer_submodules"] as? NSNumber)?.intValue ?? 2
        guard subs >= 1 else { throw .invalid("num_transformer_submodules must be positive") }
        return PromptTuningConfig(numVirtualTokens: n, tokenDim: dim, numTransformerSubmodules: subs)
    }
}
