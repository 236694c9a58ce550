import Foundation

/// Where committed fixtures and the repository's assets live, found from this file's path so
/// tests run the same from any working directory.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures")
    static let models = fixtures.appendingPathComponent("models")
    /// google/flan-t5-base's config and tokenizer files, committed under assets/ (see NOTICE).
    static let flanTokenizer = repoRoot.appendingPathComponent("assets/flan-t5-base")
}
