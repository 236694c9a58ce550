/// rouge_score's tokenizer (tokenize.tokenize with DefaultTokenizer): Python `lower()`, every run
/// of characters outside [a-z0-9] becomes a separator, tokens longer than 3 characters go through
/// NLTK's Porter stemmer. Non-ASCII letters are separators, not letters ("café" -> "caf"), which
/// is what makes scores on accented or non-Latin text low; matching rouge_score means keeping it.
public struct RougeTokenizer: Sendable {
    public let useStemmer: Bool
    private let stemmer = PorterStemmer()

    public init(useStemmer: Bool = true) {
        self.useStemmer = useStemmer
    }

    public func tokenize(_ text: String) -> [String] {
        tokenizeLines(text).flatMap { $0 }
    }

    /// Tokens per line, as rougeLsum sees them: rouge_score splits on "\n" only (not "\r",
    /// U+2028 or the other line breaks `splitlines` knows), drops empty lines and tokenizes each.
    /// Lines without tokens are dropped too: they cannot change any score. Because "\n" is
    /// itself a separator, the lines joined are exactly the tokens of the whole text.
    public func tokenizeLines(_ text: String) -> [[String]] {
        var lines: [[String]] = []
        var line: [String] = []
        var token: [Unicode.Scalar] = []

        func endToken() {
            guard !token.isEmpty else { return }
            let word = useStemmer && token.count > 3 ? stemmer.stem(token, originalLength: token.count) : token
            var view = String.UnicodeScalarView()
            view.append(contentsOf: word)
            line.append(String(view))
            token.removeAll(keepingCapacity: true)
        }

        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                switch scalar.value {
                case 0x61...0x7A, 0x30...0x39:  // a-z, 0-9
                    token.append(scalar)
                case 0x41...0x5A:  // A-Z
                    token.append(Unicode.Scalar(scalar.value + 0x20)!)
                case 0x0A:
                    endToken()
                    if !line.isEmpty { lines.append(line) }
                    line = []
                default:
                    endToken()
                }
            } else {
                // Python lowercases the whole text before dropping non-[a-z0-9]; two code points
                // lowercase to ASCII letters (U+0130 "İ" -> "i" + U+0307, U+212A Kelvin -> "k").
                for lowered in scalar.properties.lowercaseMapping.unicodeScalars {
                    if lowered.isASCII && (("a"..."z").contains(lowered) || ("0"..."9").contains(lowered)) {
                        token.append(lowered)
                    } else {
                        endToken()
                    }
                }
            }
        }
        endToken()
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}
