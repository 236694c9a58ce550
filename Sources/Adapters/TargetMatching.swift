import Foundation

/// PEFT's rules for which modules a LoRA config targets and with which rank and alpha
/// (peft.tuners.tuners_utils.check_target_module_exists and utils.other.get_pattern_key).
extension LoRAConfig {
    static func fullMatch(_ pattern: String, _ key: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil
    }

    static func matches(_ targets: Targets, _ key: String) -> Bool {
        switch targets {
        case .regex(let p): fullMatch(p, key)
        case .names(let names): names.contains(key) || names.contains { key.hasSuffix("." + $0) }
        }
    }

    /// Whether PEFT would wrap the module at `key` (e.g. "decoder.block.2.layer.1.EncDecAttention.q").
    public func targets(_ key: String) -> Bool {
        if let exclude = excludeModules, Self.matches(exclude, key) { return false }
        switch targets {
        case .regex(let p):
            // PEFT applies layers_to_transform only to list targets.
            return Self.fullMatch(p, key)
        case .names(let names):
            if names.contains(key) { return true }
            guard names.contains(where: { key.hasSuffix("." + $0) }) else { return false }
            guard let layers = layersToTransform else { return true }
            guard let index = layerIndex(key) else { return false }
            return layers.contains(index)
        }
    }

    /// The first ".<name>.<N>." in the key (or ".<layers_pattern>.<N>."): for T5 the block index.
    func layerIndex(_ key: String) -> Int? {
        let patterns = layersPattern.isEmpty ? [#"^.*?\.[^.]*\.(\d+)\."#] : layersPattern.map { #"^(?:.*?\.)?"# + $0 + #"\.(\d+)\."# }
        for p in patterns {
            guard let re = try? NSRegularExpression(pattern: p),
                  let m = re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)),
                  let r = Range(m.range(at: 1), in: key) else { continue }
            return Int(key[r])
        }
        return nil
    }

    private func patternValue<T>(_ pattern: [(String, T)], _ key: String) -> T? {
        for (p, v) in pattern {
            guard let re = try? NSRegularExpression(pattern: "^(.*\\.)?(\(p))$") else { continue }
            if re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil { return v }
        }
        return nil
    }

    public func rank(for key: String) -> Int { patternValue(rankPattern, key) ?? r }
    public func alpha(for key: String) -> Double { patternValue(alphaPattern, key) ?? loraAlpha }

    /// PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA, computed in Python floats.
    public func scaling(for key: String) -> Float {
        let r = Double(rank(for: key)), a = alpha(for: key)
        return Float(useRSLoRA ? a / r.squareRoot() : a / r)
    }
}
