/// A tokenizer that cannot be built is a deployment problem, so every message names the file
/// involved and what to do about it rather than just what went wrong.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// Where in tokenizer.json a bad value sits, so the message can point at it.
    static func invalid(_ path: String, _ problem: String) -> TokenizerError {
        TokenizerError("tokenizer.json: \(path) \(problem); re-export tokenizer.json from the Hugging Face snapshot")
    }

    /// Components we do not implement are refused up front: silently skipping one would give
    /// ids that differ from Hugging Face's without any sign of it.
    static func unsupported(_ path: String, _ what: String) -> TokenizerError {
        TokenizerError("tokenizer.json: \(path) uses \(what), which this tokenizer does not implement; "
            + "only SentencePiece Unigram tokenizers (T5 family) are supported")
    }
}
