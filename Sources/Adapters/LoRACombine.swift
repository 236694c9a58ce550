import Foundation
import Numerics
import SafeTensors

/// Combines LoRAs into one new PEFT adapter exactly as PEFT's
/// `add_weighted_adapter(adapters, weights, name, combination_type=...)` does for `cat` and
/// `linear`, quirks included (they are PEFT's behaviour, so an adapter made here equals one
/// made there):
/// - The new config is the FIRST adapter's config with r = lora_alpha = the new rank, the union
///   of target_modules (names) or "(re1)|(re2)" (regexes), and rank/alpha patterns cleared. So
///   the new adapter's own scale is 1, except that the first adapter's `use_rslora` is kept:
///   then it is sqrt(new rank) and the combined delta is that much larger. Its
///   `layers_to_transform`, `layers_pattern` and `exclude_modules` are kept too, so modules of
///   later adapters outside the first adapter's layers are dropped.
/// - Mixing list and regex target_modules is refused (PEFT refuses).
/// - `cat`: rank = sum of the adapters' ranks (each counted as max(r, rank_pattern values)).
///   A_i is multiplied by weight_i and by adapter i's own scale (two float32 roundings, in that
///   order), then A's are stacked by rows and B's by columns; rows/columns past a module's
///   actual total rank stay zero. The delta is exactly sum_i weight_i * scale_i * B_i A_i.
/// - `linear`: every adapter's rank must be equal. With ws_i = weight_i * scale_i, A = sum_i
///   sign(ws_i) sqrt|ws_i| A_i and B = sum_i sqrt|ws_i| B_i, summed separately, so B A has cross
///   terms B_i A_j and is NOT the weighted sum of the deltas. A module where an adapter's rank
///   differs from the common r (via rank_pattern) is refused: PEFT would write an adapter whose
///   tensor shapes disagree with its own config.
/// - A single adapter is always combined as `linear`, whatever was asked (PEFT does this).
/// - DoRA (LoRA with use_dora) is accepted, because PEFT accepts it, with PEFT's result: A and B
///   combine as above, and the adapters' magnitude vectors are discarded. When the first adapter
///   is DoRA the new adapter is DoRA too, and its magnitude is what PEFT's injection of a fresh
///   adapter (lora_B = 0) gives: the row norms ||W|| of the base weights, so `model` is needed.
///   When the first is plain LoRA, the new adapter is plain LoRA.
/// - AdaLoRA is refused (AdaLoraModel.add_weighted_adapter raises TypeError), as are adapters of
///   other types; IA3 has its own combination (IA3Combine).
public enum LoRACombine {
    public enum Combination: String, Sendable, CaseIterable {
        case cat, linear
    }

    private struct Source {
        let directory: URL
        let json: [String: Any]
        let config: LoRAConfig
        /// Module key (e.g. "encoder.block.0.layer.0.SelfAttention.q") -> (A (r, in), B (out, r)).
        let modules: [String: (a: Tensor, b: Tensor)]
        /// DoRA's lora_magnitude_vector per module (ignored by the combination, as in PEFT).
        let magnitudes: Set<String>
        /// PEFT's rank bound for the new adapter: max(r, rank_pattern values).
        var rankBound: Int { max(config.r, config.rankPattern.map(\.1).max() ?? 0) }
    }

    private static let prefix = "base_model.model."

    public struct Summary: Sendable, Equatable {
        public var rank: Int
        public var combination: Combination
        public var modules: [String]
    }

    /// `model` (the base checkpoint directory) is needed only when the first adapter is DoRA.
    public static func combine(adapters: [URL], weights: [Double], combination asked: Combination, out: URL,
                               model: URL? = nil) throws(AdapterError) -> Summary {
        guard !adapters.isEmpty else { throw .invalid("give at least one --adapter to combine") }
        guard weights.count == adapters.count else {
            throw .invalid("--weights has \(weights.count) value(s) but there are \(adapters.count) adapters; give one weight per adapter")
        }
        guard weights.allSatisfy(\.isFinite) else { throw .invalid("--weights must be finite numbers") }
        try LoRAMerge.checkOutput(out, notInside: adapters + (model.map { [$0] } ?? []))
        var sources: [Source] = []
        for a in adapters { sources.append(try load(a)) }
        let combination = adapters.count == 1 ? .linear : asked

        let ranks = sources.map(\.rankBound)
        let newRank: Int
        switch combination {
        case .linear:
            guard Set(ranks).count == 1 else {
                throw .unsupported("linear combination needs adapters of equal rank (PEFT: \"All adapters must have the same r value\"); these have r = \(ranks.map(String.init).joined(separator: ", ")); use --combination cat")
            }
            newRank = ranks[0]
        case .cat:
            newRank = ranks.reduce(0, +)
        }
        let dora = sources[0].config.useDoRA
        if dora { try checkDoRAInit(sources[0]) }
        var config = sources[0].config
        config.r = newRank
        config.loraAlpha = Double(newRank)
        config.rankPattern = []
        config.alphaPattern = []
        let targetsJSON: Any
        switch sources.map(\.config.targets) {
        case let all where all.allSatisfy({ if case .names = $0 { true } else { false } }):
            let names = Set(all.flatMap { t -> [String] in if case .names(let n) = t { n } else { [] } }).sorted()
            config.targets = .names(names)
            targetsJSON = names
        case let all where all.allSatisfy({ if case .regex = $0 { true } else { false } }):
            let joined = all.map { t -> String in if case .regex(let p) = t { "(\(p))" } else { "" } }.joined(separator: "|")
            config.targets = .regex(joined)
            targetsJSON = joined
        default:
            throw .unsupported("these adapters mix list and regex target_modules, which PEFT cannot combine (\"all adapter configs should follow the same target modules type\")")
        }

        let keys = Set(sources.flatMap(\.modules.keys)).filter { config.targets($0) }.sorted()
        guard !keys.isEmpty else { throw .invalid("the combined config targets none of the adapters' modules") }
        var entries: [SafeTensorsWriter.Entry] = []
        for key in keys {
            let present = sources.indices.filter { sources[$0].modules[key] != nil }
            let shapes = Set(present.map { [sources[$0].modules[key]!.a.shape[1], sources[$0].modules[key]!.b.shape[0]] })
            guard shapes.count == 1 else { throw .mismatch("\(key) has different shapes in different adapters (made for different models?)") }
            let (a, b) = try combination == .cat
                ? cat(key, sources: sources, present: present, weights: weights, rank: newRank)
                : linear(key, sources: sources, present: present, weights: weights, rank: newRank)
            entries.append(.f32(prefix + key + ".lora_A.weight", shape: a.shape, values: a.storage))
            entries.append(.f32(prefix + key + ".lora_B.weight", shape: b.shape, values: b.storage))
        }
        if dora {
            guard let model else {
                throw .invalid("the first adapter is DoRA: PEFT gives the combined adapter a fresh magnitude vector, the base weights' row norms, so give the base model with --model")
            }
            entries += try magnitudes(keys, model: model)
        }

        var json = sources[0].json
        json["r"] = newRank
        json["lora_alpha"] = newRank
        json["target_modules"] = targetsJSON
        json["rank_pattern"] = [String: Any]()
        json["alpha_pattern"] = [String: Any]()
        try LoRAMerge.writeAdapter(config: json, entries: entries, to: out)
        return Summary(rank: newRank, combination: combination, modules: keys)
    }

    /// A_i * weight_i * scale_i stacked by rows, B_i stacked by columns, zero-padded to `rank`.
    private static func cat(_ key: String, sources: [Source], present: [Int], weights: [Double], rank: Int) throws(AdapterError) -> (Tensor, Tensor) {
        let first = sources[present[0]].modules[key]!
        let inFeatures = first.a.shape[1], outFeatures = first.b.shape[0]
        var a = [Float](repeating: 0, count: rank * inFeatures)    // (rank, in)
        var b = [Float](repeating: 0, count: outFeatures * rank)   // (out, rank)
        var row = 0
        for i in present {
            let m = sources[i].modules[key]!
            let r = m.a.shape[0]
            let w = Float(weights[i]), s = sources[i].config.scaling(for: key)
            for k in 0..<r {
                for c in 0..<inFeatures { a[(row + k) * inFeatures + c] = (m.a.storage[k * inFeatures + c] * w) * s }
            }
            for o in 0..<outFeatures {
                for k in 0..<r { b[o * rank + row + k] = m.b.storage[o * r + k] }
            }
            row += r
        }
        return (Tensor(shape: [rank, inFeatures], storage: a), Tensor(shape: [outFeatures, rank], storage: b))
    }

    /// sum_i sign(ws_i) sqrt|ws_i| A_i and sum_i sqrt|ws_i| B_i (float32 factors, as PEFT's
    /// torch.tensor of the Python values).
    private static func linear(_ key: String, sources: [Source], present: [Int], weights: [Double], rank: Int) throws(AdapterError) -> (Tensor, Tensor) {
        let first = sources[present[0]].modules[key]!
        for i in present where sources[i].modules[key]!.a.shape[0] != rank {
            throw .unsupported("linear: \(key) has rank \(sources[i].modules[key]!.a.shape[0]) in \(sources[i].directory.lastPathComponent) (rank_pattern) but the combined adapter's r is \(rank); PEFT would write an adapter that does not load. Use --combination cat")
        }
        var a = [Float](repeating: 0, count: first.a.count)
        var b = [Float](repeating: 0, count: first.b.count)
        for i in present {
            let m = sources[i].modules[key]!
            let c = sources[i].config
            let r = Double(c.rank(for: key)), alpha = c.alpha(for: key)
            let scale = c.useRSLoRA ? alpha / r.squareRoot() : alpha / r
            let ws = weights[i] * scale
            let root = abs(ws).squareRoot()
            let wa = Float(ws >= 0 ? root : -root), wb = Float(root)
            for j in a.indices { a[j] += m.a.storage[j] * wa }
            for j in b.indices { b[j] += m.b.storage[j] * wb }
        }
        return (Tensor(shape: first.a.shape, storage: a), Tensor(shape: first.b.shape, storage: b))
    }

    /// PEFT's fresh-adapter magnitude: ||W + s·B·A||_row with B initialised to zero, i.e. the row
    /// norms of each base weight W (out, in), accumulated in Double and rounded once.
    private static func magnitudes(_ keys: [String], model: URL) throws(AdapterError) -> [SafeTensorsWriter.Entry] {
        let tensors = try LoRAMerge.checkpointTensors(model)
        var entries: [SafeTensorsWriter.Entry] = []
        for key in keys {
            guard let (file, info) = tensors[key + ".weight"], info.shape.count == 2 else {
                throw .mismatch("--model \(model.path) has no 2-D weight '\(key).weight' for the combined DoRA adapter (another base model?)")
            }
            let w: [Float]
            do { w = try file.floats(info) } catch { throw .invalid(error.message) }
            let (rows, columns) = (info.shape[0], info.shape[1])
            var norms = [Float](repeating: 0, count: rows)
            for o in 0..<rows {
                var sum = 0.0
                for i in 0..<columns { let v = Double(w[o * columns + i]); sum += v * v }
                norms[o] = Float(sum.squareRoot())
            }
            entries.append(.f32(prefix + key + ".lora_magnitude_vector", shape: [rows], values: norms))
        }
        return entries
    }

    /// The fresh adapter's lora_B is zero only for PEFT's default initialisations; others
    /// (False: random B; pissa, olora, ...: decompositions of the base) give a magnitude that
    /// cannot be reproduced here.
    private static func checkDoRAInit(_ source: Source) throws(AdapterError) {
        switch source.json["init_lora_weights"] {
        case nil, is NSNull: return
        case let b as Bool where b: return
        case let s as String where s == "gaussian": return
        case let other:
            throw .unsupported("\(source.directory.path): init_lora_weights \(other ?? "nil") makes PEFT initialise the combined DoRA adapter's magnitude from a non-zero lora_B, which cannot be reproduced; only true or \"gaussian\" can be combined")
        }
    }

    private static func load(_ directory: URL) throws(AdapterError) -> Source {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(PEFTAdapter.configFile)),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalid("\(directory.path) has no readable \(PEFTAdapter.configFile)")
        }
        let parsed = try PEFTConfig.parse(data)
        let config: LoRAConfig
        switch parsed {
        case .lora(let c): config = c
        case .adalora:
            throw .unsupported("\(directory.path) is an AdaLoRA adapter: PEFT's AdaLoraModel does not support add_weighted_adapter (\"AdaLoraModel does not support add_weighted_adapter method.\"), so there is no combination to match; merge it into the base or serve it instead")
        case .ia3:
            throw .unsupported("\(directory.path) is an IA3 adapter: PEFT combines adapters of one type only, and IA3 adapters combine only with other IA3 adapters (give IA3 adapters only)")
        case .promptTuning, .prefixTuning:
            throw .unsupported("\(directory.path) is \(parsed.kind == .promptTuning ? "a soft prompt (prompt tuning)" : "a prefix (prefix tuning)"): prompt learning methods have no add_weighted_adapter in PEFT; only LoRA, DoRA and IA3 adapters can be combined")
        }
        let st: SafeTensors
        do { st = try SafeTensors(mapping: directory.appendingPathComponent(PEFTAdapter.weightsFile).path) } catch { throw .invalid(error.message) }
        var modules: [String: (a: Tensor, b: Tensor)] = [:]
        for name in st.tensors.keys where name.hasSuffix(".lora_A.weight") {
            guard name.hasPrefix(prefix) else { throw .invalid("\(directory.path): unexpected tensor name '\(name)'") }
            let key = String(name.dropFirst(prefix.count).dropLast(".lora_A.weight".count))
            let bName = prefix + key + ".lora_B.weight"
            guard let aInfo = st.tensors[name], let bInfo = st.tensors[bName] else { throw .invalid("\(directory.path): '\(name)' has no matching lora_B") }
            guard aInfo.shape.count == 2, bInfo.shape.count == 2, aInfo.shape[0] == bInfo.shape[1] else {
                throw .invalid("\(directory.path): '\(key)' has lora_A \(aInfo.shape) and lora_B \(bInfo.shape), which do not form a low-rank pair")
            }
            let a: [Float], b: [Float]
            do { a = try st.floats(aInfo); b = try st.floats(bInfo) } catch { throw .invalid(error.message) }
            guard a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else { throw .invalid("\(directory.path): '\(key)' contains NaN or infinite values") }
            modules[key] = (Tensor(shape: aInfo.shape, storage: a), Tensor(shape: bInfo.shape, storage: b))
        }
        var magnitudes = Set<String>()
        if config.useDoRA {
            for key in modules.keys where st.tensors[prefix + key + ".lora_magnitude_vector"] != nil { magnitudes.insert(key) }
        }
        let paired = Set(modules.keys.flatMap { [prefix + $0 + ".lora_A.weight", prefix + $0 + ".lora_B.weight"] })
            .union(magnitudes.map { prefix + $0 + ".lora_magnitude_vector" })
        if let extra = Set(st.tensors.keys).subtracting(paired).sorted().first {
            throw .unsupported("\(directory.path): tensor '\(extra)' is not a LoRA A/B pair this combination can handle")
        }
        guard !modules.isEmpty else { throw .invalid("\(directory.path) has no LoRA tensors") }
        return Source(directory: directory, json: json, config: config, modules: modules, magnitudes: magnitudes)
    }
}
