import Foundation

/// What to pull: only the files serving reads, never a repository's other weights formats
/// (pytorch_model.bin, TF, Flax, ONNX), which can be several times the size.
public enum PullKind: String, Sendable {
    /// A base model: config, generation config, tokenizer files, safetensors weights.
    case model
    /// A PEFT adapter: adapter_config.json and adapter_model.safetensors.
    case adapter
}

enum ServingFiles {
    static let modelConfig = "config.json"
    static let modelOptional = ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    static let weights = "model.safetensors"
    static let weightsIndex = "model.safetensors.index.json"
    static let adapterConfig = "adapter_config.json"
    static let adapterWeights = "adapter_model.safetensors"

    /// The files to fetch first. For sharded weights this ends with the index; the shards it
    /// names come from `shards(index:)` once it is on disk.
    static func select(_ kind: PullKind, _ rev: RepoRevision) throws(HubError) -> [RemoteFile] {
        let at = "\(rev.repo)@\(rev.revision)"
        switch kind {
        case .model:
            guard let config = rev.files[modelConfig] else {
                throw HubError(.invalid, "\(at) has no config.json: it is not a transformers model repository")
            }
            var files = [config] + modelOptional.compactMap { rev.files[$0] }
            if let w = rev.files[weights] {
                files.append(w)
            } else if let index = rev.files[weightsIndex] {
                files.append(index)
            } else {
                throw HubError(.invalid, "\(at) has no safetensors weights (model.safetensors or model.safetensors.index.json); AdapterServe does not read pytorch_model.bin pickles")
            }
            return files
        case .adapter:
            guard let config = rev.files[adapterConfig] else {
                throw HubError(.invalid, "\(at) has no adapter_config.json: it is not a PEFT adapter repository")
            }
            guard let w = rev.files[adapterWeights] else {
                throw HubError(.invalid, "\(at) has no adapter_model.safetensors (adapter_model.bin pickles are not accepted; the adapter must be saved with safe_serialization=True)")
            }
            return [config, w]
        }
    }

    /// The shard files a downloaded model.safetensors.index.json names, each checked to be a
    /// plain file name the revision lists.
    static func shards(index: URL, _ rev: RepoRevision) throws(HubError) -> [RemoteFile] {
        guard let data = try? Data(contentsOf: index),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw HubError(.server, "\(weightsIndex) of \(rev.repo)@\(rev.revision) has no weight_map")
        }
        var files: [RemoteFile] = []
        for name in Set(map.values).sorted() {
            guard !name.contains("/"), name != ".", name != "..", let file = rev.files[name] else {
                throw HubError(.server, "\(weightsIndex) of \(rev.repo)@\(rev.revision) names a shard \"\(name)\" the repository does not list")
            }
            files.append(file)
        }
        return files
    }

    /// Offline, without a pull record: are the files serving needs here at all?
    static func locallyMissing(_ kind: PullKind, in dir: URL) -> [String] {
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: dir.appendingPathComponent(name).path) }
        switch kind {
        case .adapter:
            return [adapterConfig, adapterWeights].filter { !has($0) }
        case .model:
            var missing = has(modelConfig) ? [] : [modelConfig]
            if !has(weights) {
                let index = dir.appendingPathComponent(weightsIndex)
                if let data = try? Data(contentsOf: index),
                   let map = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["weight_map"] as? [String: String] {
                    missing += Set(map.values).sorted().filter { !has($0) }
                } else {
                    missing.append(weights)
                }
            }
            return missing
        }
    }
}
