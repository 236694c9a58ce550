import Foundation
import Numerics
import T5
import SafeTensors

/// Folds one LoRA into the base weights, as PEFT's `merge_and_unload()`: every targeted Linear
/// weight W becomes W + scale * (B @ A), with the scale the loader uses for serving (alpha/r or
/// alpha/sqrt(r), per-module rank and alpha patterns applied). The result is a plain Hugging Face
/// snapshot that needs neither PEFT nor AdapterServe to run.
public enum LoRAMerge {
    public enum DType: String, Sendable, CaseIterable {
        case fp32, bf16
    }

    /// Files copied beside the weights when the base directory has them.
    public static let companionFiles = ["generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "spiece.model", "added_tokens.json"]

    public struct Summary: Sendable, Equatable {
        /// Checkpoint names of the Linear weights that changed.
        public var merged: [String]
        public var tensorCount: Int
    }

    /// Writes the merged snapshot to `out` (created; it must not exist yet or be empty) and
    /// returns what changed. The snapshot is assembled in a sibling directory and moved into
    /// place at the end, so a failure never leaves a half-written model at `out`.
    public static func merge(model: URL, adapter: URL, out: URL, dtype: DType = .fp32) throws(AdapterError) -> Summary {
        try checkOutput(out, notInside: [model, adapter])
        let base: T5ForConditionalGeneration
        do { base = try T5ForConditionalGeneration(directory: model) } catch { throw .invalid("--model \(model.path): \(error.message)") }
        let loaded = try PEFTAdapter.load(directory: adapter, base: base)
        switch loaded.config.kind {
        case .lora: break
        case .promptTuning, .prefixTuning:
            throw .unsupported("\(adapter.path) is a \(loaded.config.kind == .promptTuning ? "soft prompt (prompt tuning)" : "prefix (prefix tuning)"): it adds virtual tokens or key/value prefixes rather than changing weights, so there is nothing to merge into the base; serve it as an adapter instead")
        case .dora, .ia3, .adalora:
            // PEFT can merge these, but `merge` reproduces only LoRA's merge_and_unload so far:
            // refusing beats writing a model that silently differs from PEFT's.
            throw .unsupported("\(adapter.path) is a \(loaded.config.kind.rawValue) adapter; merge supports plain LoRA adapters only for now (serve it as an adapter instead)")
        }
        let tensors = try checkpointTensors(model)
        var entries: [SafeTensorsWriter.Entry] = []
        var merged: [String] = []
        for name in tensors.keys.sorted() {
            let (file, info) = tensors[name]!
            var values: [Float]
            do { values = try file.floats(info) } catch { throw .invalid(error.message) }
            if name.hasSuffix(".weight"), let site = base.siteIndex[String(name.dropLast(".weight".count))],
               let delta = loaded.weights.deltas[site] {
                addDelta(delta, to: &values)
                merged.append(name)
            }
            entries.append(dtype == .fp32 ? .f32(name, shape: info.shape, values: values) : .bf16(name, shape: info.shape, values: values))
        }
        try writeSnapshot(entries, from: model, to: out, dtype: dtype)
        return Summary(merged: merged, tensorCount: entries.count)
    }

    /// W (out, in) += scale * (B (out, r) @ A (r, in)). The product is accumulated in Double and
    /// rounded once, then scaled and added in Float as PEFT does in float32; the difference from
    /// PEFT's float32 matmul is a few ulps, far inside the 1e-6-of-max|W| contract.
    static func addDelta(_ d: LowRankDelta, to w: inout [Float]) {
        let out = d.b.shape[0], r = d.rank, inFeatures = d.a.shape[1]
        precondition(w.count == out * inFeatures)
        d.a.storage.withUnsafeBufferPointer { a in
            d.b.storage.withUnsafeBufferPointer { b in
                var row = [Double](repeating: 0, count: inFeatures)
                for o in 0..<out {
                    for i in 0..<inFeatures { row[i] = 0 }
                    for k in 0..<r {
                        let bk = Double(b[o * r + k])
                        let aRow = k * inFeatures
                        for i in 0..<inFeatures { row[i] += bk * Double(a[aRow + i]) }
                    }
                    for i in 0..<inFeatures { w[o * inFeatures + i] += Float(row[i]) * d.scale }
                }
            }
        }
    }

    /// Every tensor of `model.safetensors` or of the shards named by `model.safetensors.index.json`.
    static func checkpointTensors(_ model: URL) throws(AdapterError) -> [String: (SafeTensors, SafeTensorInfo)] {
        let fm = FileManager.default
        var files: [String] = []
        if fm.fileExists(atPath: model.appendingPathComponent("model.safetensors").path) {
            files = ["model.safetensors"]
        } else {
            let index = model.appendingPathComponent("model.safetensors.index.json")
            guard let data = try? Data(contentsOf: index),
                  let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw .invalid("--model \(model.path): no model.safetensors or valid model.safetensors.index.json")
            }
            files = Set(map.values).sorted()
        }
        var all: [String: (SafeTensors, SafeTensorInfo)] = [:]
        for f in files {
            let st: SafeTensors
            do { st = try SafeTensors(mapping: model.appendingPathComponent(f).path) } catch { throw .invalid(error.message) }
            for (name, info) in st.tensors { all[name] = (st, info) }
        }
        return all
    }

    /// Refuses an existing non-empty output (nothing already stored is overwritten) and an output
    /// inside an input.
    static func checkOutput(_ out: URL, notInside inputs: [URL]) throws(AdapterError) {
        let target = out.standardizedFileURL.path
        for input in inputs where target == input.standardizedFileURL.path || target.hasPrefix(input.standardizedFileURL.path + "/") {
            throw AdapterError("invalid_output", "--out \(out.path) is inside the input \(input.path); choose a new directory")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out.path, isDirectory: &isDirectory) {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
            guard isDirectory.boolValue, contents.isEmpty else {
                throw AdapterError("invalid_output", "--out \(out.path) already exists and is not an empty directory; nothing was written")
            }
        }
    }

    /// Writes weights, config (its dtype field, if any, set to what was written) and companion
    /// files into a sibling staging directory, then moves it to `out`.
    static func writeSnapshot(_ entries: [SafeTensorsWriter.Entry], from model: URL, to out: URL, dtype: DType) throws(AdapterError) {
        let configURL = model.appendingPathComponent("config.json")
        guard var config = (try? Data(contentsOf: configURL)) else { throw .invalid("--model \(model.path) has no readable config.json") }
        if var json = (try? JSONSerialization.jsonObject(with: config)) as? [String: Any],
           json["torch_dtype"] != nil || json["dtype"] != nil {
            let name = dtype == .fp32 ? "float32" : "bfloat16"
            for key in ["torch_dtype", "dtype"] where json[key] != nil { json[key] = name }
            if let data = try? JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) { config = data }
        }
        try writeStaged(to: out) { (dir: URL) throws(AdapterError) in
            do {
                try SafeTensorsWriter.write(entries, to: dir.appendingPathComponent("model.safetensors"))
                try config.write(to: dir.appendingPathComponent("config.json"))
                for f in companionFiles where FileManager.default.fileExists(atPath: model.appendingPathComponent(f).path) {
                    try FileManager.default.copyItem(at: model.appendingPathComponent(f), to: dir.appendingPathComponent(f))
                }
            } catch { throw AdapterError("write_failed", "cannot write \(out.path): \(error.localizedDescription)") }
        }
    }

    /// Fills a fresh staging directory beside `out`, then renames it to `out` (replacing only an
    /// empty directory); on failure the staging directory is removed.
    static func writeStaged(to out: URL, _ fill: (URL) throws(AdapterError) -> Void) throws(AdapterError) {
        let fm = FileManager.default
        let parent = out.standardizedFileURL.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(out.lastPathComponent).partial-\(UUID().uuidString)")
        do { try fm.createDirectory(at: staging, withIntermediateDirectories: true) } catch {
            throw AdapterError("write_failed", "cannot create \(staging.path): \(error.localizedDescription)")
        }
        do throws(AdapterError) {
            try fill(staging)
            if fm.fileExists(atPath: out.path) { try? fm.removeItem(at: out) }   // checked empty beforehand
            do { try fm.moveItem(at: staging, to: out) } catch {
                throw AdapterError("write_failed", "cannot move the result to \(out.path): \(error.localizedDescription)")
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }
}
