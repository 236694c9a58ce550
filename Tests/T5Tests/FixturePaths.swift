import Foundation

/// Where committed fixtures and the shared data live, found from this file's path so tests
/// run the same from any working directory.
enum FixturePaths {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures")
    static let models = fixtures.appendingPathComponent("models")
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let flanTokenizer = shared.appendingPathComponent("models/flan-t5-base")
    static var hasShared: Bool { FileManager.default.fileExists(atPath: flanTokenizer.appendingPathComponent("tokenizer.json").path) }
}
