/// Words cut out of one normalized segment, stored as ranges into a shared byte buffer so a
/// long input does not allocate an array per word.
struct Words {
    var bytes: [UInt8]
    var ranges: [Range<Int>]
}

/// When Metaspace puts ▁ in front of a word.
enum PrependScheme: Sendable, Equatable {
    case always
    case never
    /// Only in front of the text at the very start of the input (`tokenizers` checks that the
    /// word's original offset is 0).
    case first
}

indirect enum PreTokenizer: Sendable {
    /// Split on Unicode whitespace and drop it.
    case whitespaceSplit
    /// Spaces become `replacement`, ▁ is prepended per `prependScheme`, and with `split` each
    /// replacement character starts a new word (it stays attached to the text after it).
    case metaspace(replacement: [UInt8], prependScheme: PrependScheme, split: Bool)
    case sequence([PreTokenizer])

    /// - Parameter atStartOfInput: whether the segment's first character maps to offset 0 of the
    ///   caller's text (no added token before it, nothing stripped by normalization); only
    ///   `PrependScheme.first` looks at it.
    func split(_ segment: [UInt8], atStartOfInput: Bool) -> Words {
        apply(Words(bytes: segment, ranges: segment.isEmpty ? [] : [0..<segment.count]),
              atStartOfInput: atStartOfInput)
    }

    private func apply(_ words: Words, atStartOfInput: Bool) -> Words {
        switch self {
        case .whitespaceSplit:
            return Self.splitOnWhitespace(words)
        case .metaspace(let replacement, let scheme, let split):
            return Self.metaspace(words, replacement: replacement, scheme: scheme, split: split,
                                  atStartOfInput: atStartOfInput)
        case .sequence(let steps):
            var current = words
            for step in steps { current = step.apply(current, atStartOfInput: atStartOfInput) }
            return current
        }
    }

    private static func splitOnWhitespace(_ words: Words) -> Words {
        var ranges: [Range<Int>] = []
        let bytes = words.bytes[...]
        for range in words.ranges {
            var start = range.lowerBound
            var i = range.lowerBound
            while i < range.upperBound {
                let b = bytes[i]
                let isSpace: Bool
                let length: Int
                if b < 0x80 {
                    isSpace = b == 0x20 || (0x09...0x0D).contains(b)
                    length = 1
                } else {
                    let (scalar, n) = UTF8Scanning.scalar(bytes, at: i)
                    isSpace = UTF8Scanning.isWhitespace(scalar)
                    length = n
                }
                if isSpace {
                    if start < i { ranges.append(start..<i) }
                    start = i + length
                }
                i += length
            }
            if start < range.upperBound { ranges.append(start..<range.upperBound) }
        }
        return Words(bytes: words.bytes, ranges: ranges)
    }

    private static func metaspace(_ words: Words, replacement: [UInt8], scheme: PrependScheme, split: Bool,
                                  atStartOfInput: Bool) -> Words {
        var out: [UInt8] = []
        out.reserveCapacity(words.bytes.count + 3 * words.ranges.count)
        var ranges: [Range<Int>] = []
        for (index, range) in words.ranges.enumerated() {
            let wordStart = out.count
            let piece = words.bytes[range]
            // Spaces are replaced before the check, so a leading space counts as a leading ▁.
            let startsWithReplacement = piece.first == 0x20 || piece.starts(with: replacement)
            let prepend: Bool
            switch scheme {
            case .always: prepend = !startsWithReplacement
            case .never: prepend = false
            case .first: prepend = !startsWithReplacement && atStartOfInput && index == 0 && range.lowerBound == 0
            }
            if prepend { out += replacement }
            for b in piece {
                if b == 0x20 { out += replacement } else { out.append(b) }
            }
            guard split else {
                if wordStart < out.count { ranges.append(wordStart..<out.count) }
                continue
            }
            // Each replacement character opens a new word (`MergedWithNext`).
            var start = wordStart
            var i = wordStart
            while i < out.count {
                if i > start, out[i] == replacement[0], out[i..<min(i + replacement.count, out.count)].elementsEqual(replacement) {
                    ranges.append(start..<i)
                    start = i
                }
                i += 1
            }
            if start < out.count { ranges.append(start..<out.count) }
        }
        return Words(bytes: out, ranges: ranges)
    }
}
