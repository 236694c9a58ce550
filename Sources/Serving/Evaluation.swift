import Bleu
import Foundation
import Rouge
import T5

/// One DialogSum-style example: a dialogue and its human reference summary.
public struct EvaluationItem: Sendable {
    public let dialogue: String
    public let reference: String
    public init(dialogue: String, reference: String) { self.dialogue = dialogue; self.reference = reference }
}

/// A candidate's ROUGE (mean F-measures, as rouge_score with the stemmer), BLEU and speed.
public struct EvaluationRow: Sendable {
    public let candidate: String          // "base" or an adapter name (a+b when stacked)
    public let rouge: RougeMeans
    /// sacreBLEU corpus_bleu (defaults, 0-100) of the predictions against the references.
    public let bleu: Double
    public let meanOutputTokens: Double
    public let summariesPerSecond: Double
    public let predictions: [String]
}

/// Compares the base model and adapters on the same examples the way the lab does: summarize
/// each dialogue with each candidate, score against the references, report the change vs base.
public enum Evaluation {
    /// `summarize` maps (candidate adapter names or nil for base, dialogue) to (summary, output tokens);
    /// each candidate's items are submitted together so the engine batches them.
    public static func run(items: [EvaluationItem], candidates: [[String]?],
                           summarizeAll: ([String]?, [String]) throws(ServiceError) -> [(String, Int)],
                           progress: ((Int, Int) -> Void)? = nil) throws(ServiceError) -> [EvaluationRow] {
        let scorer = RougeScorer(useStemmer: true)
        var rows: [EvaluationRow] = []
        for (i, candidate) in candidates.enumerated() {
            let start = Date()
            let outputs = try summarizeAll(candidate, items.map(\.dialogue))
            let seconds = max(Date().timeIntervalSince(start), 1e-9)
            let scores = zip(outputs, items).map { scorer.score(prediction: $0.0, reference: $1.reference) }
            let bleu = SacreBleu.corpusBleu(hypotheses: outputs.map(\.0), references: items.map { [$0.reference] }).score
            rows.append(EvaluationRow(candidate: candidate?.joined(separator: "+") ?? "base", rouge: meanFMeasures(scores), bleu: bleu,
                                      meanOutputTokens: Double(outputs.map(\.1).reduce(0, +)) / Double(max(1, outputs.count)),
                                      summariesPerSecond: Double(items.count) / seconds, predictions: outputs.map(\.0)))
            progress?(i + 1, candidates.count)
        }
        return rows
    }
}

extension AdapterServeService {
    /// Summarizes every dialogue with one candidate, all requests queued at once so the engine
    /// decodes them as a batch.
    public func summarizeAll(adapters: [String]?, dialogues: [String], template: String?,
                             parameters: GenerationParameters) throws(ServiceError) -> [(String, Int)] {
        let results = ResultSlots<SummarizeResult>(count: dialogues.count)
        let group = DispatchGroup()
        for (i, dialogue) in dialogues.enumerated() {
            group.enter()
            // Each waiter blocks on its own thread (not the cooperative pool) while the engine batches.
            Thread.detachNewThread { [self] in
                let r = Result { () throws(ServiceError) -> SummarizeResult in
                    try summarize(SummarizeRequest(dialogue: dialogue, adapters: adapters, promptTemplate: template, parameters: parameters))
                }
                results.set(i, r)
                group.leave()
            }
        }
        group.wait()
        return try results.values.map { r throws(ServiceError) in
            switch r! {
            case .success(let s): return (s.summary, s.outputTokens)
            case .failure(let e): throw e
            }
        }
    }
}


extension EvaluationRow {
    /// The row as both `eval --json` and POST /v1/evaluate report it, with the change against
    /// the base row when there is one.
    public func json(base: EvaluationRow?, includePredictions: Bool) -> [String: Any] {
        var d: [String: Any] = ["candidate": candidate, "rouge1": rouge.rouge1, "rouge2": rouge.rouge2,
                                "rougeL": rouge.rougeL, "rougeLsum": rouge.rougeLsum,
                                "bleu": bleu, "bleu_signature": SacreBleu.signature(referenceCounts: [1], effectiveOrder: false),
                                "mean_output_tokens": meanOutputTokens, "summaries_per_second": summariesPerSecond]
        if includePredictions { d["predictions"] = predictions }
        if let base, candidate != "base" {
            d["change_vs_base"] = ["rouge1": rouge.rouge1 - base.rouge.rouge1, "rouge2": rouge.rouge2 - base.rouge.rouge2,
                                   "rougeL": rouge.rougeL - base.rouge.rougeL, "rougeLsum": rouge.rougeLsum - base.rouge.rougeLsum, "bleu": bleu - base.bleu]
        }
        return d
    }
}
