import Foundation
import SafeTensors
import Numerics
import T5
#if canImport(Glibc)
import Glibc
#endif

/// What the service reports about an adapter (and stores beside it).
public struct AdapterInfo: Sendable, Codable, Equatable {
    public var kind: AdapterKind
    /// SHA-256 of adapter_model.safetensors: identifies the exact weights that served a request.
    public var sha256: String
    public var rank: Int?                 // LoRA: the base r (rank_pattern may vary it per module)
    public var targetModules: [String]?   // LoRA: module names wrapped, e.g. ["q", "v"]
    public var targetCount: Int?          // LoRA: how many Linear layers
    public var virtualTokens: Int?        // soft prompt
    public var parameterCount: Int
    /// Bytes this adapter's weights take in memory (F32).
    public var bytes: Int
}

/// A PEFT adapter checked against the resident base model and ready to apply.
public struct PEFTAdapter: Sendable {
    public let config: PEFTConfig
    public let weights: AdapterWeights
    public let info: AdapterInfo

    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Reads a PEFT adapter directory as `save_pretrained` writes it.
    public static func load(directory: URL, base: T5ForConditionalGeneration) throws(AdapterError) -> PEFTAdapter {
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent(configFile)
        let weightsURL = directory.appendingPathComponent(weightsFile)
        // A link could point anywhere on the machine; an adapter directory holds plain files.
        for url in [directory, configURL, weightsURL] where isSymbolicLink(url) {
            throw .invalid("\(url.path) is a symbolic link; adapter directories must hold plain files")
        }
        guard let configData = try? Data(contentsOf: configURL) else {
            throw .invalid("\(directory.path) has no readable \(configFile)")
        }
        guard fm.fileExists(atPath: weightsURL.path) else {
            if fm.fileExists(atPath: directory.appendingPathComponent("adapter_model.bin").path) {
                throw .unsupported("\(directory.path) has only adapter_model.bin (a pickle), which is not loaded for safety; re-save the adapter with save_pretrained(..., safe_serialization=True)")
            }
            throw .invalid("\(directory.path) has no \(weightsFile)")
        }
        let tensors: SafeTensors
        do { tensors = try SafeTensors(mapping: weightsURL.path) } catch { throw .invalid(error.message) }
        return try load(configData: configData, tensors: tensors, base: base)
    }

    /// Validates an uploaded adapter entirely in memory (nothing touches disk until it passes).
    public static func load(configData: Data, weightsData: Data, base: T5ForConditionalGeneration) throws(AdapterError) -> PEFTAdapter {
        let tensors: SafeTensors
        do { tensors = try SafeTensors(data: weightsData, source: weightsFile) } catch { throw .invalid(error.message) }
        return try load(configData: configData, tensors: tensors, base: base)
    }

    static func load(configData: Data, tensors: SafeTensors, base: T5ForConditionalGeneration) throws(AdapterError) -> PEFTAdapter {
        let config = try PEFTConfig.parse(configData)
        let sha = SHA256.digest(tensors.fileBytes)
        switch config {
        case .lora(let lora): return try loadLoRA(lora, config: config, tensors: tensors, base: base, sha: sha)
        case .promptTuning(let prompt): return try loadPrompt(prompt, config: config, tensors: tensors, base: base, sha: sha)
        case .ia3(let ia3): return try loadIA3(ia3, config: config, tensors: tensors, base: base, sha: sha)
        case .adalora(let ada): return try loadAdaLoRA(ada, config: config, tensors: tensors, base: base, sha: sha)
        case .prefixTuning(let prefix): return try loadPrefix(prefix, config: config, tensors: tensors, base: base, sha: sha)
        }
    }

    /// Largest |ΔW| entry an adapter may add to a base weight. Trained LoRA deltas are small
    /// corrections (T5's own weights are within ~10²); past this the adapter cannot have come
    /// from training, and its products overflow Float32 in a few layers, which would otherwise
    /// surface as empty summaries made of token 0.
    public static let maxDeltaMagnitude: Float = 1e4

    /// PEFT's effective scale for `key` (alpha/r, alpha/sqrt(r) with rsLoRA, after rank_pattern
    /// and alpha_pattern), checked to be finite in Float32 and to keep every entry of
    /// scale·B·A within `maxDeltaMagnitude`. The bound uses |ΔW_ij| ≤ |s|·Σ_k |B_ik|·max_j |A_kj|,
    /// which costs one pass over A and B instead of forming the product.
    static func checkedScale(_ lora: LoRAConfig, key: String, a: Tensor, b: Tensor) throws(AdapterError) -> Float {
        let r = lora.rank(for: key)
        let scale = lora.scaling(for: key)
        let how = lora.useRSLoRA ? "lora_alpha/sqrt(r)" : "lora_alpha/r"
        guard scale.isFinite else {
            throw .invalid("the LoRA scale for \(key) (\(how) = \(lora.alpha(for: key))/\(r)) is not finite in Float32; use a lora_alpha in the range PEFT trains with")
        }
        let bound = deltaBound(a: a, b: b) * Double(abs(scale))
        guard bound <= Double(maxDeltaMagnitude) else {
            throw .invalid("the LoRA update for \(key) can reach |ΔW| = \(Float(bound)) (scale \(how) = \(scale)); the limit is \(maxDeltaMagnitude). Check lora_alpha, r, alpha_pattern and the weights: an adapter this large overflows Float32 at inference")
        }
        return scale
    }

    /// An upper bound on max_ij |(B·A)_ij|: Σ_k |B_ik|·max_j |A_kj| for the worst row i, one pass
    /// over A (r, in) and B (out, r) instead of the product. Also bounds request-time combinations.
    static func deltaBound(a: Tensor, b: Tensor) -> Double {
        let r = a.shape[0], inputs = a.shape[1], outputs = b.shape[0]
        var columnMax = [Float](repeating: 0, count: r)     // (r): max_j |A_kj|
        for k in 0..<r {
            for j in 0..<inputs { columnMax[k] = max(columnMax[k], abs(a.storage[k * inputs + j])) }
        }
        var bound: Double = 0
        for i in 0..<outputs {
            var row: Double = 0
            for k in 0..<r { row += Double(abs(b.storage[i * r + k])) * Double(columnMax[k]) }
            bound = max(bound, row)
        }
        return bound
    }

    private static func isSymbolicLink(_ url: URL) -> Bool {
        var info = stat()
        return lstat(url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    static let keyPrefix = "base_model.model."

    private static func loadLoRA(_ lora: LoRAConfig, config: PEFTConfig, tensors: SafeTensors,
                                 base: T5ForConditionalGeneration, sha: String) throws(AdapterError) -> PEFTAdapter {
        if lora.targets("lm_head") || lora.targets("shared") {
            throw .unsupported("this LoRA targets lm_head or the shared embedding, which AdapterServe does not support")
        }
        var deltas = [LowRankDelta?](repeating: nil, count: base.linearSites.count)
        var expected = Set<String>()
        var names = Set<String>()
        var parameters = 0
        for (site, key) in base.linearSites.enumerated() where lora.targets(key) {
            let r = lora.rank(for: key)
            let shape = base.linearShape(site)   // (out, in)
            let aName = keyPrefix + key + ".lora_A.weight", bName = keyPrefix + key + ".lora_B.weight"
            expected.insert(aName); expected.insert(bName)
            let a = try tensor(tensors, aName, shape: [r, shape.in])
            let b = try tensor(tensors, bName, shape: [shape.out, r])
            let scale = try checkedScale(lora, key: key, a: a, b: b)
            if lora.useDoRA {   // DoRA.swift
                let mName = Self.keyPrefix + key + ".lora_magnitude_vector"
                expected.insert(mName)
                let m = try tensor(tensors, mName, shape: [shape.out])
                deltas[site] = DoRA.delta(a: a, b: b, scale: scale, magnitude: m.storage, base: base.linearWeight(site))
                parameters += m.count
            } else {
                deltas[site] = LowRankDelta(a: a, b: b, scale: scale)
            }
            names.insert(String(key.split(separator: ".").last!))
            parameters += a.count + b.count
        }
        guard !expected.isEmpty else {
            throw .mismatch("this LoRA's target_modules match no Linear layer of the base model (T5 names: q, k, v, o, wi, wi_0, wi_1, wo)")
        }
        let extra = Set(tensors.tensors.keys).subtracting(expected).sorted()
        guard extra.isEmpty else {
            throw .mismatch("adapter_model.safetensors has tensor(s) the config does not target on this base model: \(extra.prefix(3).joined(separator: ", "))\(extra.count > 3 ? ", ..." : "") (adapter made for another model?)")
        }
        let info = AdapterInfo(kind: config.kind, sha256: sha, rank: lora.r, targetModules: names.sorted(),
                               targetCount: expected.count / (lora.useDoRA ? 3 : 2), virtualTokens: nil,
                               parameterCount: parameters, bytes: parameters * 4)
        return PEFTAdapter(config: config, weights: AdapterWeights(deltas: deltas, promptEmbeddings: nil), info: info)
    }

    private static func loadPrompt(_ prompt: PromptTuningConfig, config: PEFTConfig, tensors: SafeTensors,
                                   base: T5ForConditionalGeneration, sha: String) throws(AdapterError) -> PEFTAdapter {
        let d = base.config.dModel
        if let dim = prompt.tokenDim, dim != d {
            throw .mismatch("soft prompt token_dim is \(dim) but the base model's d_model is \(d) (adapter made for another model?)")
        }
        guard let info = tensors.tensors["prompt_embeddings"] else {
            throw .invalid("adapter_model.safetensors has no 'prompt_embeddings' tensor")
        }
        let rows = prompt.numVirtualTokens * prompt.numTransformerSubmodules
        guard info.shape == [rows, d] else {
            throw .mismatch("prompt_embeddings has shape \(info.shape); expected [\(rows), \(d)] (num_virtual_tokens \(prompt.numVirtualTokens) x num_transformer_submodules \(prompt.numTransformerSubmodules), d_model \(d))")
        }
        let extra = Set(tensors.tensors.keys).subtracting(["prompt_embeddings"]).sorted()
        guard extra.isEmpty else { throw .invalid("unexpected tensor(s) in a prompt-tuning adapter: \(extra.prefix(3).joined(separator: ", "))") }
        let all = try tensor(tensors, "prompt_embeddings", shape: [rows, d])
        // PEFT's seq2seq generate prepends only the first num_virtual_tokens rows to the encoder input.
        let used = Tensor(shape: [prompt.numVirtualTokens, d], storage: Array(all.storage[0..<(prompt.numVirtualTokens * d)]))
        guard used.storage.allSatisfy(\.isFinite) else { throw .invalid("prompt_embeddings contains NaN or infinite values") }
        let meta = AdapterInfo(kind: .promptTuning, sha256: sha, rank: nil, targetModules: nil, targetCount: nil,
                               virtualTokens: prompt.numVirtualTokens, parameterCount: all.count, bytes: used.count * 4)
        return PEFTAdapter(config: config, weights: AdapterWeights(deltas: [], promptEmbeddings: used), info: meta)
    }

    static func tensor(_ st: SafeTensors, _ name: String, shape: [Int]) throws(AdapterError) -> Tensor {
        guard let info = st.tensors[name] else {
            throw .mismatch("adapter_model.safetensors is missing '\(name)' (expected shape \(shape))")
        }
        guard info.shape == shape else {
            throw .mismatch("'\(name)' has shape \(info.shape) but the base model needs \(shape) (adapter made for another model, or wrong rank_pattern?)")
        }
        let values: [Float]
        do { values = try st.floats(info) } catch { throw .invalid(error.message) }
        guard values.allSatisfy(\.isFinite) else { throw .invalid("'\(name)' contains NaN or infinite values") }
        return Tensor(shape: shape, storage: values)
    }
}
