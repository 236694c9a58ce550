import Foundation

/// Where committed fixtures and the repository's assets live, found from this file's path
/// (symlinks resolved) so tests run the same from any working directory or sandbox checkout.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizer")
    /// google/flan-t5-base's tokenizer and config files, committed under assets/ (see NOTICE).
    static let flanT5 = repoRoot.appendingPathComponent("assets/flan-t5-base")
    /// DialogSum dev and test rows, committed under assets/ (see NOTICE).
    static let dialogSum = repoRoot.appendingPathComponent("assets/dialogsum")
}
