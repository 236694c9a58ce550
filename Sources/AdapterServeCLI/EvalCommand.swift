import ArgumentParser
import Foundation
import Rouge
import Serving
import T5
import Numerics

/// `eval`: ROUGE and BLEU of the base model and each adapter on DialogSum, as the lab reports them.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
        abstract: "Compare the base model and adapters on DialogSum JSONL by ROUGE, BLEU and speed.")

    @Option(help: "Hugging Face model directory.") var model: String
    @Option(help: "Directory with tokenizer.json, if not the model directory.") var tokenizer: String?
    @Option(help: "DialogSum JSONL (dialogue plus summary or summary1 as the reference).") var data: String
    @Option(name: .customLong("adapter"), help: "NAME=DIR of a PEFT adapter to compare; repeatable.") var adapters: [String] = []
    @Option(help: "Use only the first N examples.") var limit: Int?
    @Option(help: "Maximum new tokens per summary.") var maxNewTokens = 64
    @Option(help: "Beam width.") var numBeams = 1
    @Option(help: "Prompt template; must contain {dialogue}.") var promptTemplate = SummarizeRequest.defaultTemplate
    @Option(help: "How the base's weights are held: fp32 (token-exact), bf16, int8 or nf4 (QLoRA's 4-bit NormalFloat).")
    var weights: WeightFormat = .fp32
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let items = try Self.readDialogSum(path: data, limit: limit)
        guard !items.isEmpty else { throw CLIError(description: "\(data) has no examples") }
        guard promptTemplate.contains("{dialogue}") else { throw ValidationError("--prompt-template must contain {dialogue}") }
        let local = try LocalEngine(model: model, tokenizer: tokenizer, needTokenizer: true, weights: weights)
        let tok = local.tokenizer!
        var named: [String: ResolvedAdapter] = [:]
        var candidates: [[String]?] = [nil]
        for spec in adapters {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--adapter takes NAME=DIR, got \(spec)") }
            named[parts[0]] = try local.loadAdapter(name: parts[0], directory: parts[1])
            candidates.append([parts[0]])
        }
        var p = GenerationParameters()
        p.maxNewTokens = maxNewTokens; p.numBeams = numBeams
        let bar = ProgressBar()
        let ids = items.map { tok.encode(promptTemplate.replacingOccurrences(of: "{dialogue}", with: $0.dialogue)) }
        bar.update(0, candidates.count, label: "evaluating")
        let rows = try CLIError.wrap {
            try Evaluation.run(items: items, candidates: candidates, summarizeAll: { names, _ throws(ServiceError) in
                let adapter = names.flatMap { named[$0[0]] }
                let outputs = try local.engine.generateAll(ids.map { ($0, adapter) }, parameters: p)
                return outputs.map { (tok.decode($0.tokens), $0.tokens.count) }
            }, progress: { bar.update($0, $1, label: "evaluating") })
        }
        try Self.report(rows, json: json, count: items.count)
    }

    static func readDialogSum(path: String, limit: Int?) throws -> [EvaluationItem] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError(description: "cannot read \(path)") }
        var items: [EvaluationItem] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let limit, items.count >= limit { break }
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let dialogue = obj["dialogue"] as? String,
                  let reference = (obj["summary"] as? String) ?? (obj["summary1"] as? String) else {
                throw CLIError(description: "\(path):\(n + 1): expected a JSON object with dialogue and summary (or summary1)")
            }
            items.append(EvaluationItem(dialogue: dialogue, reference: reference))
        }
        return items
    }

    static func report(_ rows: [EvaluationRow], json: Bool, count: Int) throws {
        let base = rows.first { $0.candidate == "base" }
        if json {
            try printJSON(["examples": count, "rows": rows.map { $0.json(base: base, includePredictions: false) }])
            return
        }
        func pct(_ x: Double) -> String { String(format: "%6.2f%%", x * 100) }
        func delta(_ x: Double) -> String { String(format: "%+6.2f%%", x * 100) }
        print("\(count) examples")
        print("candidate".padding(toLength: 24, withPad: " ", startingAt: 0) + "  rouge1   rouge2   rougeL rougeLsum    bleu  tokens  summ/s")
        for r in rows {
            print(r.candidate.padding(toLength: 24, withPad: " ", startingAt: 0)
                  + " \(pct(r.rouge.rouge1)) \(pct(r.rouge.rouge2)) \(pct(r.rouge.rougeL)) \(pct(r.rouge.rougeLsum))"
                  + String(format: " %7.2f %7.1f %7.2f", r.bleu, r.meanOutputTokens, r.summariesPerSecond))
            if let base, r.candidate != "base" {
                print("  vs base".padding(toLength: 24, withPad: " ", startingAt: 0)
                      + " \(delta(r.rouge.rouge1 - base.rouge.rouge1)) \(delta(r.rouge.rouge2 - base.rouge.rouge2)) \(delta(r.rouge.rougeL - base.rouge.rougeL)) \(delta(r.rouge.rougeLsum - base.rouge.rougeLsum))"
                      + String(format: " %+7.2f", r.bleu - base.bleu))
            }
        }
    }
}
