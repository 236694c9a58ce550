import Foundation
import Numerics
import T5
import SafeTensors

/// Folds one weight-changing adapter into the base weights, as PEFT's `merge_and_unload()` does
/// for its method, with the factors the loader uses for serving. For each targeted Linear W (out, in):
/// - LoRA: W + s·B·A (s = alpha/r or alpha/sqrt(r), per-module rank and alpha patterns applied).
/// - AdaLoRA: W + B·(A⊙E)·alpha/(init_r + 1e-5), the pruned rank pattern applied (PEFT's
///   SVDLinear.get_delta_weight: ranknum is the rank the module was created with).
/// - DoRA: m/||W + s·B·A||_row ⊙ (W + s·B·A), the norm per output row taken from the unmerged
///   base, as DoraLinearVariant.merge_unsafe computes it.
/// - IA3: W·diag(l) (columns scaled) for feed-forward modules, whose input IA3 scales, and
///   diag(l)·W (rows scaled) for the others, whose output it scales (IA3 Linear.merge; T5's
///   Linears have no bias to scale).
/// The result is a plain Hugging Face snapshot that needs neither PEFT nor AdapterServe to run.
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
        case .lora, .dora, .adalora, .ia3: break
        case .promptTuning, .prefixTuning:
            throw .unsupported("\(adapter.path) is a \(loaded.config.kind == .promptTuning ? "soft prompt (prompt tuning)" : "prefix (prefix tuning)"): it adds virtual tokens or key/value prefixes rather than changing weights, so there is nothing to merge into the base (PEFT's merge_and_unload does not apply to prompt learning methods either); serve it as an adapter instead")
        }
        let tensors = try checkpointTensors(model)
        var entries: [SafeTensorsWriter.Entry] = []
        var merged: [String] = []
        for name in tensors.keys.sorted() {
            let (file, info) = tensors[name]!
            var values: [Float]
            do { values = try file.floats(info) } catch { throw .invalid(error.message) }
            if name.hasSuffix(".weight"), let site = base.siteIndex[String(name.dropLast(".weight".count))],
               fold(loaded.weights, site: site, into: &values) {
                merged.append(name)
            }
            entries.append(dtype == .fp32 ? .f32(name, shape: info.shape, values: values) : .bf16(name, shape: info.shape, values: values))
        }
        try writeSnapshot(entries, from: model, to: out, dtype: dtype)
        return Summary(merged: merged, tensorCount: entries.count)
    }

    /// Folds whatever `weights` holds at `site` into that Linear's weight (out, in); false when
    /// the adapter leaves the site alone.
    static func fold(_ weights: AdapterWeights, site: Int, into w: inout [Float]) -> Bool {
        var changed = false
        if site < weights.deltas.count, let delta = weights.deltas[site] {
            addDelta(delta, to: &w)
            if let g = delta.magnitudeScale { scaleRows(&w, by: g) }   // DoRA: g = m / ||W + s·B·A||
            changed = true
        }
        if site < weights.ia3.count, let ia3 = weights.ia3[site] {
            if ia3.scalesInput { scaleColumns(&w, by: ia3.vector) } else { scaleRows(&w, by: ia3.vector) }
            changed = true
        }
        return changed
    }

    /// w (rows, columns) row i *= v[i], one float32 product as torch's broadcast multiply.
    static func scaleRows(_ w: inout [Float], by v: [Float]) {
        let columns = w.count / v.count
        precondition(columns * v.count == w.count)
        for i in v.indices { for j in 0..<columns { w[i * columns + j] *= v[i] } }
    }

    /// w (rows, columns) column j *= v[j].
    static func scaleColumns(_ w: inout [Float], by v: [Float]) {
        let rows = w.count / v.count
        precondition(rows * v.count == w.count)
        for i in 0..<rows { for j in v.indices { w[i * v.count + j] *= v[j] } }
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

    /// Writes a PEFT adapter directory (adapter_config.json, adapter_model.safetensors) to `out`,
    /// staged like a snapshot: the combined adapters of LoRACombine and IA3Combine.
    static func writeAdapter(config json: [String: Any], entries: [SafeTensorsWriter.Entry], to out: URL) throws(AdapterError) {
        let configData: Data
        do { configData = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } catch {
            throw .invalid("cannot encode the combined adapter_config.json: \(error.localizedDescription)")
        }
        try writeStaged(to: out) { (dir: URL) throws(AdapterError) in
            do {
                try configData.write(to: dir.appendingPathComponent(PEFTAdapter.configFile))
                try SafeTensorsWriter.write(entries, to: dir.appendingPathComponent(PEFTAdapter.weightsFile))
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
