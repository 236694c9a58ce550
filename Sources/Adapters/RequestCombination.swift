import Foundation
import Numerics
import T5

/// One adapter of a per-request combination and its weight.
public struct CombinationMember: Sendable, Hashable {
    public let name: String
    public let weight: Double
    public init(name: String, weight: Double) { self.name = name; self.weight = weight }
}

/// Per-request combination of LoRAs (`"adapter": {"combine": [...]}`): the weighted sum of the
/// members' deltas, Σᵢ wᵢ·sᵢ·Bᵢ·Aᵢ, built as ONE concatenated LoRA so it runs through the
/// ordinary mixed-batch LoRA path beside other adapters and the base:
/// A = [w₁s₁A₁; w₂s₂A₂; ...] (rows stacked), B = [B₁ B₂ ...] (columns stacked), scale 1.
/// That is PEFT's `add_weighted_adapter(..., combination_type="cat")` computed the same way
/// (Aᵢ·wᵢ then ·sᵢ, two Float32 roundings), so where `cat` is the weighted sum the two agree.
///
/// `cat` is NOT the weighted sum when its first adapter uses rsLoRA (the new adapter keeps
/// use_rslora with r = lora_alpha = Σr, so its scale is √Σr instead of 1) or has
/// layers_to_transform/exclude_modules (kept for the new adapter, dropping other adapters'
/// modules outside them), and it refuses list and regex target_modules mixed. A request
/// combination is always the weighted sum: each member keeps its own scale sᵢ (alpha/r or
/// alpha/√r, after rank_pattern and alpha_pattern) and every module any member targets.
/// Members are put in name order first, so the same set in any order is one combination
/// (same label, same cache entry, bit-identical outputs).
public enum RequestCombination {
    /// The most members one request may combine. Each adds its rank to the combined LoRA's
    /// (the combined rank is Σrᵢ), so the cost of a combined row grows with the count.
    public static let maxMembers = 8

    /// Members in name order: the canonical form every other function expects.
    public static func canonical(_ members: [CombinationMember]) -> [CombinationMember] {
        members.sorted { $0.name < $1.name }
    }

    /// The name a combination is reported under, e.g. `combine(a:0.7,b:0.3)` (canonical
    /// order, each weight in its shortest exact decimal form).
    public static func label(_ members: [CombinationMember]) -> String {
        "combine(" + canonical(members).map { "\($0.name):\($0.weight)" }.joined(separator: ",") + ")"
    }

    /// Checks that need no adapter: a count in 1...maxMembers, distinct names, finite weights
    /// that stay finite in Float32 (what the kernels compute in).
    public static func validate(_ members: [CombinationMember]) throws(AdapterError) {
        guard !members.isEmpty else {
            throw AdapterError("invalid_combination", "adapter.combine is empty; list 1 to \(maxMembers) adapters as {\"name\": ..., \"weight\": ...}")
        }
        guard members.count <= maxMembers else {
            throw AdapterError("invalid_combination", "adapter.combine lists \(members.count) adapters; at most \(maxMembers) can be combined in one request")
        }
        var seen = Set<String>()
        for m in members where !seen.insert(m.name).inserted {
            throw AdapterError("invalid_combination", "adapter '\(m.name)' appears more than once in adapter.combine; give each adapter once with the sum of its weights")
        }
        for m in members where !(m.weight.isFinite && Float(m.weight).isFinite) {
            throw AdapterError("invalid_combination", "the weight of '\(m.name)' (\(m.weight)) is not a finite Float32 number")
        }
    }

    /// The combined weights of `parts` (canonical order, every adapter resident), for a base
    /// with `sites` Linear layers named `siteKeys`. Refuses members that are not plain LoRA and
    /// combinations whose update could pass `PEFTAdapter.maxDeltaMagnitude` on some layer,
    /// the bound every stored adapter is held to at load.
    public static func build(_ parts: [(member: CombinationMember, adapter: PEFTAdapter)],
                             siteKeys: [String]) throws(AdapterError) -> AdapterWeights {
        try validate(parts.map(\.member))
        for (member, adapter) in parts {
            guard case .lora(let lora) = adapter.config, !lora.useDoRA else {
                throw AdapterError("invalid_combination", "adapter '\(member.name)' is \(describe(adapter.config.kind)); only plain LoRA adapters can be combined (PEFT's add_weighted_adapter combines LoRA layers only)")
            }
        }
        var deltas = [LowRankDelta?](repeating: nil, count: siteKeys.count)
        for site in siteKeys.indices {
            let present = parts.compactMap { p -> (Float, LowRankDelta)? in
                guard site < p.adapter.weights.deltas.count, let d = p.adapter.weights.deltas[site] else { return nil }
                return (Float(p.member.weight), d)
            }
            guard let first = present.first?.1 else { continue }
            let inputs = first.a.shape[1], outputs = first.b.shape[0]
            let rank = present.reduce(0) { $0 + $1.1.rank }
            var a = [Float](repeating: 0, count: rank * inputs)    // (rank, in): rows of wᵢ·sᵢ·Aᵢ
            var b = [Float](repeating: 0, count: outputs * rank)   // (out, rank): columns of Bᵢ
            var row = 0
            for (w, d) in present {
                let r = d.rank
                for k in 0..<r {
                    for j in 0..<inputs { a[(row + k) * inputs + j] = (d.a.storage[k * inputs + j] * w) * d.scale }
                }
                for i in 0..<outputs {
                    for k in 0..<r { b[i * rank + row + k] = d.b.storage[i * r + k] }
                }
                row += r
            }
            let delta = LowRankDelta(a: Tensor(shape: [rank, inputs], storage: a), b: Tensor(shape: [outputs, rank], storage: b), scale: 1)
            let bound = PEFTAdapter.deltaBound(a: delta.a, b: delta.b)
            guard bound <= Double(PEFTAdapter.maxDeltaMagnitude) else {
                throw AdapterError("invalid_combination", "with these weights the combined update for \(siteKeys[site]) can reach |ΔW| = \(Float(bound)); the limit is \(PEFTAdapter.maxDeltaMagnitude), the bound every adapter is held to. Use smaller weights")
            }
            deltas[site] = delta
        }
        return AdapterWeights(deltas: deltas, promptEmbeddings: nil)
    }

    /// Bytes the combined weights take (F32), for the cache's budget.
    public static func bytes(_ weights: AdapterWeights) -> Int {
        weights.deltas.reduce(0) { $0 + ($1.map { ($0.a.count + $0.b.count) * 4 } ?? 0) }
    }

    private static func describe(_ kind: AdapterKind) -> String {
        switch kind {
        case .lora: "a LoRA"
        case .dora: "a DoRA adapter (its magnitude vector does not add across adapters)"
        case .adalora: "an AdaLoRA adapter"
        case .ia3: "an IA3 adapter"
        case .promptTuning: "a soft prompt (prompt tuning)"
        case .prefixTuning: "a prefix-tuning adapter"
        }
    }
}
