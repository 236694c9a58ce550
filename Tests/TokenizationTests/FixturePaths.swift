import Foundation

/// Where committed fixtures and the shared model/data folder live, found from this file's path
/// (symlinks resolved) so tests run the same from any working directory or sandbox checkout.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizer")
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let flanT5 = shared.appendingPathComponent("models/flan-t5-base")
    static let dialogSum = shared.appendingPathComponent("data/dialogsum")

    /// The real tokenizer is not committed (it is the model's, and large); tests that need it
    /// are skipped where <repo>/../shared is absent.
    static var hasFlanT5: Bool {
        FileManager.default.fileExists(atPath: flanT5.appendingPathComponent("tokenizer.json").path)
    }

    static var hasDialogSum: Bool {
        hasFlanT5 && ["dev", "test"].allSatisfy {
            FileManager.default.fileExists(atPath: dialogSum.appendingPathComponent("dialogsum.\($0).jsonl").path)
        }
    }
}
