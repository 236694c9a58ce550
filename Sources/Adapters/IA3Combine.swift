import Foundation
import Numerics
import SafeTensors

/// Combines IA3 adapters into one new IA3 adapter exactly as PEFT's
/// `IA3Model.add_weighted_adapter(adapters, weights, name)` does (it has no combination_type):
/// - The new config is the FIRST adapter's config with target_modules and feedforward_modules
///   each the union of the adapters' (names) or "(re1)|(re2)" (regexes); mixing list and regex
///   for either is refused, as PEFT refuses it. Everything else (exclude_modules included) is the
///   first adapter's.
/// - Each module's vector is sum_i weight_i * l_i over the adapters that have the module (float32,
///   in adapter order). This is a weighted sum of the scaling vectors, not a product of the
///   adapters' effects: weights that do not sum to 1 rescale the layer (0.5 and 0.5 of two
///   vectors near 1 stay near 1; 1 and 1 double the layer's output).
/// - A module that is feed-forward (input-scaled, vector (1, in)) in the combined config but
///   output-scaled (vector (out, 1)) in an adapter is refused: PEFT's in-place sum of the two
///   shapes fails.
public enum IA3Combine {
    public struct Summary: Sendable, Equatable {
        public var modules: [String]
    }

    private struct Source {
        let directory: URL
        let json: [String: Any]
        let config: IA3Config
        /// Module key -> (vector, shape as saved: [1, in] feed-forward or [out, 1]).
        let vectors: [String: (values: [Float], shape: [Int])]
    }

    private static let prefix = "base_model.model."

    /// Whether the adapter directory holds an IA3 adapter (the CLI picks the combination by it).
    public static func isIA3(_ directory: URL) -> Bool {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(PEFTAdapter.configFile)),
              let parsed = try? PEFTConfig.parse(data) else { return false }
        return parsed.kind == .ia3
    }

    public static func combine(adapters: [URL], weights: [Double], out: URL) throws(AdapterError) -> Summary {
        guard !adapters.isEmpty else { throw .invalid("give at least one --adapter to combine") }
        guard weights.count == adapters.count else {
            throw .invalid("--weights has \(weights.count) value(s) but there are \(adapters.count) adapters; give one weight per adapter")
        }
        guard weights.allSatisfy(\.isFinite) else { throw .invalid("--weights must be finite numbers") }
        try LoRAMerge.checkOutput(out, notInside: adapters)
        var sources: [Source] = []
        for a in adapters { sources.append(try load(a)) }

        let (targets, targetsJSON) = try union(sources.map(\.json), field: "target_modules", defaults: ["k", "v", "wo"])
        let (feedforward, feedforwardJSON) = try union(sources.map(\.json), field: "feedforward_modules", defaults: ["wo"])
        var config = sources[0].config
        config.targets.targets = targets
        switch feedforward {
        case .names(let n): config.feedforward = .suffixes(n)
        case .regex(let p): config.feedforward = .regex(p)
        }

        let keys = Set(sources.flatMap(\.vectors.keys)).filter { config.targets.targets($0) }.sorted()
        guard !keys.isEmpty else { throw .invalid("the combined config targets none of the adapters' modules") }
        var entries: [SafeTensorsWriter.Entry] = []
        for key in keys {
            let present = sources.indices.filter { sources[$0].vectors[key] != nil }
            let input = config.isFeedForward(key)
            var shape: [Int]? = nil
            for i in present {
                let s = sources[i].vectors[key]!.shape
                guard (s[0] == 1) == input || s == [1, 1] else {
                    throw .unsupported("\(key) is \(input ? "a feed-forward (input-scaled)" : "an output-scaled") module in the combined config but \(input ? "output" : "input")-scaled in \(sources[i].directory.lastPathComponent); PEFT cannot add the two vector shapes (\(s) into \(input ? "(1, in)" : "(out, 1)"))")
                }
                guard shape == nil || shape == s else { throw .mismatch("\(key) has different shapes in different adapters (made for different models?)") }
                shape = s
            }
            var sum = [Float](repeating: 0, count: sources[present[0]].vectors[key]!.values.count)
            for i in present {
                let w = Float(weights[i])
                for (j, v) in sources[i].vectors[key]!.values.enumerated() { sum[j] += v * w }
            }
            entries.append(.f32(prefix + key + ".ia3_l", shape: shape!, values: sum))
        }

        var json = sources[0].json
        json["target_modules"] = targetsJSON
        json["feedforward_modules"] = feedforwardJSON
        try LoRAMerge.writeAdapter(config: json, entries: entries, to: out)
        return Summary(modules: keys)
    }

    /// PEFT's _check_add_weighted_adapter for one field: every adapter's value is a list (PEFT
    /// fills a missing one with its T5 default list) or every one a regex string.
    private static func union(_ configs: [[String: Any]], field: String, defaults: [String]) throws(AdapterError) -> (LoRAConfig.Targets, Any) {
        var names: [[String]] = [], patterns: [String] = []
        for json in configs {
            switch json[field] {
            case let s as String: patterns.append(s)
            case let list as [String]: names.append(list)
            default: names.append(defaults)   // nil or null (anything else failed parsing already)
            }
        }
        if patterns.isEmpty {
            let all = Set(names.joined()).sorted()
            return (.names(all), all)
        }
        guard names.isEmpty else {
            throw .unsupported("these IA3 adapters mix list and regex \(field), which PEFT cannot combine (\"All adapter configs should have the same type for target and feedforward modules.\")")
        }
        let joined = patterns.map { "(\($0))" }.joined(separator: "|")
        return (.regex(joined), joined)
    }

    private static func load(_ directory: URL) throws(AdapterError) -> Source {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(PEFTAdapter.configFile)),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalid("\(directory.path) has no readable \(PEFTAdapter.configFile)")
        }
        let parsed = try PEFTConfig.parse(data)
        guard case .ia3(let config) = parsed else {
            throw .unsupported("\(directory.path) is \(parsed.kind == .promptTuning ? "a soft prompt (prompt tuning)" : "a \(parsed.kind.rawValue) adapter"): PEFT combines adapters of one type only, and the first adapter is IA3 (give IA3 adapters only)")
        }
        let st: SafeTensors
        do { st = try SafeTensors(mapping: directory.appendingPathComponent(PEFTAdapter.weightsFile).path) } catch { throw .invalid(error.message) }
        var vectors: [String: (values: [Float], shape: [Int])] = [:]
        for (name, info) in st.tensors {
            guard name.hasPrefix(prefix), name.hasSuffix(".ia3_l") else {
                throw .unsupported("\(directory.path): tensor '\(name)' is not an IA3 vector this combination can handle")
            }
            guard info.shape.count == 2, info.shape[0] == 1 || info.shape[1] == 1 else {
                throw .invalid("\(directory.path): '\(name)' has shape \(info.shape), not (1, in) or (out, 1)")
            }
            let values: [Float]
            do { values = try st.floats(info) } catch { throw .invalid(error.message) }
            guard values.allSatisfy(\.isFinite) else { throw .invalid("\(directory.path): '\(name)' contains NaN or infinite values") }
            vectors[String(name.dropFirst(prefix.count).dropLast(".ia3_l".count))] = (values, info.shape)
        }
        guard !vectors.isEmpty else { throw .invalid("\(directory.path) has no IA3 vectors") }
        return Source(directory: directory, json: json, config: config, vectors: vectors)
    }
}
