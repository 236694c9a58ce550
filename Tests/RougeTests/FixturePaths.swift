import Foundation

/// Where committed fixtures and the shared data folder live, found from this file's path
/// (symlinks resolved) so tests run the same from any working directory or sandbox checkout.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/rouge")
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let dialogSumTest = shared.appendingPathComponent("data/dialogsum/dialogsum.test.jsonl")

    /// The DialogSum texts are not committed (the fixture keeps only scores); the parity test
    /// on them is skipped where <repo>/../shared is absent.
    static var hasDialogSum: Bool {
        FileManager.default.fileExists(atPath: dialogSumTest.path)
    }
}
