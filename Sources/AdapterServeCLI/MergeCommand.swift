import Adapters
import ArgumentParser
import Foundation

/// `adapter-serve merge`: folds a LoRA, DoRA, AdaLoRA or IA3 adapter into the base (PEFT
/// merge_and_unload) so it can ship as a standalone checkpoint, or combines LoRA/DoRA or IA3
/// adapters into one new adapter (PEFT add_weighted_adapter).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge an adapter into the base model, or combine adapters (cat|linear) into a new adapter.",
        discussion: """
            With --model and no --weights: writes a Hugging Face snapshot of the base with the one \
            --adapter (LoRA, DoRA, AdaLoRA or IA3) folded in (model.safetensors, config.json, \
            generation and tokenizer files), equal to PEFT's merge_and_unload(). With --weights: \
            combines the --adapter directories into one PEFT adapter, equal to PEFT's \
            add_weighted_adapter with its quirks (see README): LoRA and DoRA with --combination \
            cat|linear (a first DoRA adapter also needs --model, for its fresh magnitude vector), IA3 \
            with its own weighted sum of vectors (--combination linear or omitted). AdaLoRA, soft \
            prompts and prefixes are refused, as PEFT has no combination for them. --out must be new \
            or empty.
            """)

    @Option(help: "Hugging Face base model directory (merge into the base; or the base of DoRA adapters being combined).") var model: String?
    @Option(name: .customLong("adapter"), help: "PEFT adapter directory; repeat to combine.") var adapters: [String] = []
    @Option(help: "Output directory (must not exist or be empty).") var out: String
    @Option(help: "Weights dtype of the merged snapshot: fp32 or bf16.") var dtype: String = "fp32"
    @Option(help: "Comma-separated weight per adapter, e.g. 0.7,0.3 (combining).") var weights: String?
    @Option(help: "How to combine adapters: cat or linear (IA3: linear or omitted).") var combination: String?

    func run() throws {
        guard !adapters.isEmpty else { throw ValidationError("give --adapter DIR") }
        let outURL = URL(fileURLWithPath: out)
        if let model, weights == nil {
            guard adapters.count == 1 else { throw ValidationError("merging into --model takes exactly one --adapter (combine adapters first, with --weights)") }
            guard combination == nil else { throw ValidationError("--combination is for combining adapters, with --weights") }
            guard let type = LoRAMerge.DType(rawValue: dtype) else { throw ValidationError("--dtype must be fp32 or bf16, got \(dtype)") }
            let summary = try CLIError.wrap {
                try LoRAMerge.merge(model: URL(fileURLWithPath: model), adapter: URL(fileURLWithPath: adapters[0]), out: outURL, dtype: type)
            }
            print("merged \(summary.merged.count) Linear weight(s) of \(summary.tensorCount) tensors into \(out) (\(dtype))")
        } else {
            guard let weights else {
                throw ValidationError("give --weights (and --combination) to combine adapters, or --model to merge one into the base")
            }
            let values = try weights.split(separator: ",", omittingEmptySubsequences: false).map { part -> Double in
                guard let v = Double(part.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw ValidationError("--weights must be comma-separated numbers, got '\(part)'")
                }
                return v
            }
            let urls = adapters.map { URL(fileURLWithPath: $0) }
            if IA3Combine.isIA3(urls[0]) {
                // PEFT's IA3 add_weighted_adapter has a single, linear combination of the vectors.
                guard combination == nil || combination == "linear" else {
                    throw ValidationError("IA3 adapters combine only as PEFT's IA3 add_weighted_adapter does, a weighted sum of their vectors: use --combination linear or omit it")
                }
                guard model == nil else { throw ValidationError("--model is not used when combining IA3 adapters") }
                let summary = try CLIError.wrap { try IA3Combine.combine(adapters: urls, weights: values, out: outURL) }
                print("combined \(adapters.count) IA3 adapter(s) (weighted sum of vectors) over \(summary.modules.count) modules into \(out)")
                return
            }
            guard let combination else { throw ValidationError("give --combination cat or linear to combine LoRA/DoRA adapters") }
            guard let kind = LoRACombine.Combination(rawValue: combination) else { throw ValidationError("--combination must be cat or linear, got \(combination)") }
            let summary = try CLIError.wrap {
                try LoRACombine.combine(adapters: urls, weights: values, combination: kind, out: outURL, model: model.map { URL(fileURLWithPath: $0) })
            }
            print("combined \(adapters.count) adapter(s) (\(summary.combination.rawValue), r=\(summary.rank)) over \(summary.modules.count) modules into \(out)")
        }
    }
}
