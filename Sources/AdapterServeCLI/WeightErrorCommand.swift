import ArgumentParser
import Foundation
import Numerics
import T5

/// `weight-error`: the logit error of bf16, int8 and nf4 weight storage against fp32 on a checkpoint
/// (the benchmark runs it on the full-size random model), teacher-forced on fp32's greedy tokens.
struct WeightErrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weight-error", abstract: "Logit error of bf16/int8/nf4 weight storage against fp32 (default input: 64 synthetic tokens).")

    @Option(help: "Model directory.") var model: String
    @OptionGroup var input: EncoderInputOptions
    @Option(help: "Decoder steps compared.") var steps = 16
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ids = try input.ids(defaultTokens: 64)
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        let url = URL(fileURLWithPath: model)
        let reference = try CLIError.wrap { try T5ForConditionalGeneration(directory: url, weightFormat: .fp32) }
        try EncoderInputOptions.checkVocabulary(ids, reference.config.vocabSize)
        var results: [String: Any] = ["input_tokens": ids.count, "steps": steps]
        for format in [WeightFormat.bf16, .int8, .nf4] {
            let candidate = try CLIError.wrap { try T5ForConditionalGeneration(directory: url, weightFormat: format) }
            let d = candidate.logitDeviation(from: reference, ids: ids, steps: steps)
            results[format.rawValue] = ["max_abs_logit_error": d.maxAbsError, "logit_scale": d.logitScale,
                                        "relative_error": d.relativeError, "top1_matches": d.top1Matches, "steps": d.steps]
            if !json {
                print(String(format: "%@: max |logit error| %.4g at logit scale %.4g (relative %.3g); greedy token agrees on %d/%d steps",
                             format.rawValue, d.maxAbsError, d.logitScale, d.relativeError, d.top1Matches, d.steps))
            }
        }
        if json { try printJSON(results) }
    }
}
