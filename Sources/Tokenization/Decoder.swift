/// Turns token strings back into text.
enum Decoder: Sendable {
    /// `tokenizers` joins tokens with spaces when a tokenizer.json has no decoder.
    case joinWithSpaces
    /// ▁ becomes a space, except that every ▁ of the first token is dropped (not just a leading
    /// one) unless the prepend scheme is `never`; "first token" means the first one left after
    /// special tokens were skipped.
    case metaspace(replacement: String, prependScheme: PrependScheme)

    func decode(_ tokens: [String]) -> String {
        switch self {
        case .joinWithSpaces:
            return tokens.joined(separator: " ")
        case .metaspace(let replacement, let scheme):
            guard let marker = replacement.unicodeScalars.first else { return tokens.joined() }
            var out = String.UnicodeScalarView()
            for (i, token) in tokens.enumerated() {
                for scalar in token.unicodeScalars {
                    if scalar == marker {
                        if i == 0 && scheme != .never { continue }
                        out.append(" ")
                    } else {
                        out.append(scalar)
                    }
                }
            }
            return String(out)
        }
    }
}

/// transformers' `clean_up_tokenization`, applied when tokenizer_config.json sets
/// `clean_up_tokenization_spaces` (transformers 5 defaults it to off, and FLAN-T5 leaves it so).
enum TokenizationSpaceCleanup {
    /// Python's `str.replace` works on code points; String's own `replacing` would refuse to
    /// match " ." when the "." carries a combining mark, so the replacements run on UTF-8.
    static func apply(_ text: String) -> String {
        var bytes = Array(text.utf8)
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            bytes = ReplacePattern.literal(Array(from.utf8)).replaceAll(in: bytes[...], with: Array(to.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
