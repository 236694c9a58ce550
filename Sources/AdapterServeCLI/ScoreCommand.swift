import ArgumentParser
import Foundation
import Rouge

/// `adapter-serve score`: scores saved predictions offline with exactly the numbers `eval` and
/// POST /v1/evaluate report (ROUGE as rouge_score, BLEU as sacreBLEU), so results from elsewhere
/// can be compared with ours.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "ROUGE (rouge_score, Porter stemmer) and BLEU (sacreBLEU defaults) of prediction/reference pairs.",
        discussion: """
            FILE.jsonl holds one {"prediction": ..., "reference": ...} or {"prediction": ..., "references": [...]} \
            object per line; blank lines are skipped. With several references ROUGE takes, per type, the \
            best-scoring reference (rouge_score's score_multi) and BLEU uses them all. Prints each pair's \
            scores in input order, their mean, and corpus BLEU with sacreBLEU's signature.
            """)

    @OptionGroup var options: ScoreOptions

    func run() throws { try options.run(defaultMetrics: "rouge,bleu") }
}

/// The options `score` and its `rouge` alias share; `rouge` only changes the default metrics.
struct ScoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("JSON Lines file of {\"prediction\", \"reference\" or \"references\"} objects.", valueName: "FILE.jsonl"))
    var pairs: String

    @Option(name: .long, help: ArgumentHelp("Comma-separated metrics: rouge, bleu.", valueName: "LIST"))
    var metrics: String?

    @Flag(name: .long, help: "Print {\"mean\": {...}, \"corpus\": {...}, \"pairs\": [{...}, ...]} instead of a table.")
    var json = false

    func run(defaultMetrics: String) throws {
        let chosen = try Self.parseMetrics(metrics ?? defaultMetrics)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pairs, isDirectory: &isDirectory) else {
            throw Self.failure("--pairs \(pairs): no such file")
        }
        guard !isDirectory.boolValue else { throw Self.failure("--pairs \(pairs): is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: pairs))
        } catch {
            throw Self.failure("--pairs \(pairs): cannot be read (\(error.localizedDescription))")
        }
        let parsed: [RougePair]
        do {
            parsed = try RougePairsFile.parse(data)
        } catch {
            throw Self.failure("\(pairs) \(error)")
        }
        if chosen.contains(.bleu) && parsed.isEmpty {
            throw Self.failure("\(pairs) has no pairs; corpus BLEU needs at least one")
        }
        let report = ScoreReport(pairs: parsed, metrics: chosen)
        if json {
            var out = try report.jsonData()
            out.append(0x0A)
            FileHandle.standardOutput.write(out)
        } else {
            FileHandle.standardOutput.write(Data(report.table().utf8))
        }
    }

    static func parseMetrics(_ list: String) throws -> Set<ScoreReport.Metric> {
        var chosen = Set<ScoreReport.Metric>()
        for name in list.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let metric = ScoreReport.Metric(rawValue: trimmed) else {
                throw ValidationError("--metrics: unknown metric '\(trimmed)'; choose from rouge, bleu")
            }
            chosen.insert(metric)
        }
        return chosen
    }

    /// Bad input is the user's file, not the command line: say what is wrong and exit 1, without
    /// the usage text ArgumentParser adds to a ValidationError.
    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return .failure
    }
}
