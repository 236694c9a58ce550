import ArgumentParser
import Foundation
import Numerics
import T5

/// `weight-error`: the logit error of bf16 and int8 weight storage against fp32 on a checkpoint
/// (the benchmark runs it on the full-size random model), teacher-forced on fp32's greedy tokens.
struct WeightErrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weight-error", abstract: "Logit error of bf16/int8 weight storage against fp32.")

    @Option(help: "Model directory.") var model: String
    @Option(help: "Comma-separated encoder input ids.") var inputIds: String?
    @Option(help: "Or: a synthetic input of this many tokens (</s> included).") var inputTokens = 64
    @Option(help: "Decoder steps compared.") var steps = 16
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ids: [Int32] = try inputIds.map { list in
            try list.split(separator: ",").map { s in
                guard let v = Int32(s.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw ValidationError("--input-ids: '\(s)' is not a token id") }
                return v
            }
        } ?? (0..<max(0, inputTokens - 1)).map { Int32(100 + ($0 * 37) % 20000) } + [1]
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        let url = URL(fileURLWithPath: model)
        let reference = try CLIError.wrap { try T5ForConditionalGeneration(directory: url, weightFormat: .fp32) }
        guard ids.allSatisfy({ Int($0) < reference.config.vocabSize }) else { throw ValidationError("an input id is outside the vocabulary") }
        var results: [String: Any] = ["input_tokens": ids.count, "steps": steps]
        for format in [WeightFormat.bf16, .int8] {
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
