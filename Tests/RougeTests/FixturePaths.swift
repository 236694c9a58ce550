import Foundation

/// Where committed fixtures and the repository's assets live, found from this file's path
/// (symlinks resolved) so tests run the same from any working directory or sandbox checkout.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/rouge")
    /// DialogSum test rows, committed under assets/ (see NOTICE); the fixtures keep only scores.
    static let dialogSumTest = repoRoot.appendingPathComponent("assets/dialogsum/dialogsum.test.jsonl")
}
