import Foundation
import SafeTensors
import Numerics

/// The tensors of a Hugging Face checkpoint directory: `model.safetensors`, or shards listed in
/// `model.safetensors.index.json`. Modules take their weights by name with the shape they
/// expect; whatever is left unclaimed at the end is reported, so a checkpoint for another
/// architecture fails loudly instead of running with half its weights ignored.
public final class Checkpoint {
    private var files: [String: SafeTensors] = [:]
    private var location: [String: String] = [:]
    private var claimed: Set<String> = []
    public let directory: URL
    /// How Linear weights are kept in memory once loaded.
    public let weightFormat: WeightFormat

    public init(directory: URL, weightFormat: WeightFormat = .fp32) throws(ModelError) {
        self.directory = directory
        self.weightFormat = weightFormat
        let fm = FileManager.default
        let single = directory.appendingPathComponent("model.safetensors")
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single.path) {
            try add(file: "model.safetensors")
        } else if fm.fileExists(atPath: index.path) {
            guard let data = try? Data(contentsOf: index),
                  let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw ModelError("\(index.path): not a valid safetensors index (needs a weight_map object)")
            }
            for shard in Set(map.values).sorted() {
                guard !shard.contains("/"), !shard.hasPrefix(".") else {
                    throw ModelError("\(index.path): shard name '\(shard)' must be a plain file name")
                }
                try add(file: shard)
            }
            for (name, shard) in map where location[name] != shard {
                throw ModelError("\(index.path) lists '\(name)' in \(shard), but that shard does not contain it")
            }
        } else if fm.fileExists(atPath: directory.appendingPathComponent("pytorch_model.bin").path) {
            throw ModelError("\(directory.path) has only pytorch_model.bin (a pickle), which is not loaded for safety. Convert it once with Python: `T5ForConditionalGeneration.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)`, or download model.safetensors")
        } else {
            throw ModelError("no model.safetensors or model.safetensors.index.json in \(directory.path): download the weights (see README)")
        }
    }

    private func add(file: String) throws(ModelError) {
        let path = directory.appendingPathComponent(file).path
        let st: SafeTensors
        do { st = try SafeTensors(mapping: path) } catch { throw ModelError(error.message) }
        files[file] = st
        for name in st.tensors.keys {
            if let other = location[name] { throw ModelError("tensor '\(name)' appears in both \(other) and \(file)") }
            location[name] = file
        }
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// The tensor, checked against the shape the module expects, as F32.
    public func tensor(_ name: String, shape: [Int]) throws(ModelError) -> Tensor {
        guard let file = location[name], let st = files[file], let info = st.tensors[name] else {
            throw ModelError("checkpoint is missing tensor '\(name)' (expected shape \(shape)); is this a T5 checkpoint matching config.json?")
        }
        guard info.shape == shape else {
            throw ModelError("tensor '\(name)' has shape \(info.shape) but config.json implies \(shape)")
        }
        claimed.insert(name)
        do { return Tensor(shape: shape, storage: try st.floats(info)) } catch { throw ModelError(error.message) }
    }

    /// Marks names that may legitimately be present but are not loaded (tied copies).
    public func ignore(_ name: String) { if location[name] != nil { claimed.insert(name) } }

    /// Fails on tensors nobody claimed.
    public func checkAllClaimed() throws(ModelError) {
        let extra = Set(location.keys).subtracting(claimed).sorted()
        guard extra.isEmpty else {
            let shown = extra.prefix(5).joined(separator: ", ")
            throw ModelError("checkpoint has \(extra.count) unexpected tensor(s) for this config: \(shown)\(extra.count > 5 ? ", ..." : "")")
        }
    }
}
