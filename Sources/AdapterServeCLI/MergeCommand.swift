import Adapters
import ArgumentParser
import Foundation

/// `adapter-serve merge`: folds a LoRA into the base (PEFT merge_and_unload) so it can ship as a
/// standalone checkpoint, or combines LoRAs into one new adapter (PEFT add_weighted_adapter).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a LoRA into the base model, or combine LoRAs (cat|linear) into a new adapter.",
        discussion: """
            With --model: writes a Hugging Face snapshot of the base with the one --adapter folded in \
            (model.safetensors, config.json, generation and tokenizer files), equal to PEFT's \
            merge_and_unload(). Without --model: combines the --adapter directories with --weights \
            into one PEFT adapter, equal to PEFT's add_weighted_adapter(combination_type=cat|linear) \
            with its quirks (see README). --out must be new or empty.
            """)

    @Option(help: "Hugging Face base model directory (merge into the base).") var model: String?
    @Option(name: .customLong("adapter"), help: "PEFT LoRA directory; repeat to combine.") var adapters: [String] = []
    @Option(help: "Output directory (must not exist or be empty).") var out: String
    @Option(help: "Weights dtype of the merged snapshot: fp32 or bf16.") var dtype: String = "fp32"
    @Option(help: "Comma-separated weight per adapter, e.g. 0.7,0.3 (combining).") var weights: String?
    @Option(help: "How to combine adapters: cat or linear.") var combination: String?

    func run() throws {
        guard !adapters.isEmpty else { throw ValidationError("give --adapter DIR") }
        let outURL = URL(fileURLWithPath: out)
        if let model {
            guard adapters.count == 1 else { throw ValidationError("merging into --model takes exactly one --adapter (combine adapters first, without --model)") }
            guard weights == nil, combination == nil else { throw ValidationError("--weights and --combination are for combining adapters, without --model") }
            guard let type = LoRAMerge.DType(rawValue: dtype) else { throw ValidationError("--dtype must be fp32 or bf16, got \(dtype)") }
            let summary = try CLIError.wrap {
                try LoRAMerge.merge(model: URL(fileURLWithPath: model), adapter: URL(fileURLWithPath: adapters[0]), out: outURL, dtype: type)
            }
            print("merged \(summary.merged.count) Linear weight(s) of \(summary.tensorCount) tensors into \(out) (\(dtype))")
        } else {
            guard let weights, let combination else {
                throw ValidationError("without --model, give --weights and --combination to combine adapters (or --model to merge into the base)")
            }
            guard let kind = LoRACombine.Combination(rawValue: combination) else { throw ValidationError("--combination must be cat or linear, got \(combination)") }
            let values = try weights.split(separator: ",", omittingEmptySubsequences: false).map { part -> Double in
                guard let v = Double(part.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw ValidationError("--weights must be comma-separated numbers, got '\(part)'")
                }
                return v
            }
            let summary = try CLIError.wrap {
                try LoRACombine.combine(adapters: adapters.map { URL(fileURLWithPath: $0) }, weights: values, combination: kind, out: outURL)
            }
            print("combined \(adapters.count) adapter(s) (\(summary.combination.rawValue), r=\(summary.rank)) over \(summary.modules.count) modules into \(out)")
        }
    }
}
