import ArgumentParser
import Foundation
import Rouge

/// `adapter-serve rouge`: scores saved predictions offline with exactly the numbers the
/// evaluation endpoint reports, so results from elsewhere can be compared with ours.
public struct RougeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rouge",
        abstract: "ROUGE-1/2/L/Lsum F-measures (rouge_score with the Porter stemmer) of prediction/reference pairs.",
        discussion: """
            FILE.jsonl holds one {"prediction": ..., "reference": ...} object per line; blank lines \
            are skipped. Prints each pair's F-measures in input order and their mean.
            """)

    @Option(name: .long, help: ArgumentHelp("JSON Lines file of {\"prediction\", \"reference\"} objects.", valueName: "FILE.jsonl"))
    public var pairs: String

    @Flag(name: .long, help: "Print {\"mean\": {...}, \"pairs\": [{...}, ...]} instead of a table.")
    public var json = false

    public init() {}

    public func run() throws {
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

        let scorer = RougeScorer(useStemmer: true)
        let report = RougeReport(scores: parsed.map { scorer.score(prediction: $0.prediction, reference: $0.reference) })
        if json {
            var out = try report.jsonData()
            out.append(0x0A)
            FileHandle.standardOutput.write(out)
        } else {
            FileHandle.standardOutput.write(Data(report.table().utf8))
        }
    }

    /// Bad input is the user's file, not the command line: say what is wrong and exit 1, without
    /// the usage text ArgumentParser adds to a ValidationError.
    private static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return .failure
    }
}
