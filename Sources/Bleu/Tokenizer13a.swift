/// sacreBLEU's default `13a` tokenizer (mteval-v13a.pl as used by WMT), reproduced on Unicode
/// scalars rather than Swift `Character`s: Python strings are sequences of code points, so grapheme
/// clustering ("\r\n" as one Character) or canonical equivalence (é == e + U+0301) would make tokens
/// differ from sacreBLEU's.
public enum Tokenizer13a {
    /// The tokens sacreBLEU's BLEU counts for `line`: right-stripped, 13a-tokenized, then split on
    /// whitespace. Each token is its UTF-8 bytes, so n-grams compare code point by code point.
    public static func tokens(_ line: String) -> [[UInt8]] {
        var s = Array(line.unicodeScalars.map(\.value))
        // BLEU._preprocess_segment: `sent.rstrip()` before tokenizing.
        while let last = s.last, isPythonSpace(last) { s.removeLast() }
        s = replace(s, "<skipped>", "")
        s = replace(s, "-\n", "")
        s = replace(s, "\n", " ")
        if s.contains(ampersand) {
            for (entity, text) in [("&quot;", "\""), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
                s = replace(s, entity, text)
            }
        }
        s = [space] + s + [space]
        s = spaceOutPunctuation(s)
        // The three pairwise rules, each a left-to-right non-overlapping regex substitution.
        s = substitutePairs(s, first: { !isDigit($0) }, second: isPeriodOrComma) { [$0, space, $1, space] }
        s = substitutePairs(s, first: isPeriodOrComma, second: { !isDigit($0) }) { [space, $0, space, $1] }
        s = substitutePairs(s, first: isDigit, second: { $0 == hyphen }) { [$0, space, $1, space] }
        return split(s)
    }

    /// The tokens joined by single spaces, as sacreBLEU's tokenizer returns the line.
    public static func tokenize(_ line: String) -> String {
        String(decoding: Array(tokens(line).joined(separator: [0x20])), as: UTF8.self)
    }

    private static let space: UInt32 = 0x20, ampersand: UInt32 = 0x26, hyphen: UInt32 = 0x2D

    /// `str.isspace()` in CPython (Unicode 14 as in CPython 3.11): what `rstrip()` and `split()`
    /// treat as whitespace. Wider than ASCII, e.g. U+00A0 and U+3000 split tokens.
    static func isPythonSpace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `[0-9]` in a Python `str` pattern: ASCII digits only, not other Unicode digits.
    private static func isDigit(_ c: UInt32) -> Bool { (0x30...0x39).contains(c) }
    private static func isPeriodOrComma(_ c: UInt32) -> Bool { c == 0x2E || c == 0x2C }

    /// The class `[\{-\~\[-\` -\&\(-\+\:-\@\/]`: ASCII punctuation (and space) except `'`, `,`, `-`, `.`.
    private static func isSplitPunctuation(_ c: UInt32) -> Bool {
        switch c {
        case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
        default: return false
        }
    }

    private static func spaceOutPunctuation(_ s: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(s.count * 2)
        for c in s {
            if isSplitPunctuation(c) { out += [space, c, space] } else { out.append(c) }
        }
        return out
    }

    /// `re.sub("(A)(B)", ...)`: matches are tried left to right and a match consumes both code
    /// points, so the second of a pair never starts the next match ("a.." -> "a . .").
    private static func substitutePairs(_ s: [UInt32], first: (UInt32) -> Bool, second: (UInt32) -> Bool,
                                        _ replacement: (UInt32, UInt32) -> [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(s.count + s.count / 2)
        var i = 0
        while i < s.count {
            if i + 1 < s.count, first(s[i]), second(s[i + 1]) {
                out += replacement(s[i], s[i + 1])
                i += 2
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `str.replace(old, new)`: every non-overlapping occurrence, left to right.
    private static func replace(_ s: [UInt32], _ old: String, _ new: String) -> [UInt32] {
        let pattern = old.unicodeScalars.map(\.value), with = new.unicodeScalars.map(\.value)
        guard s.count >= pattern.count else { return s }
        var out: [UInt32] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + pattern.count <= s.count, s[i..<(i + pattern.count)].elementsEqual(pattern) {
                out += with
                i += pattern.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `str.split()` with no separator: runs of whitespace separate, no empty tokens.
    private static func split(_ s: [UInt32]) -> [[UInt8]] {
        var tokens: [[UInt8]] = []
        var current: [UInt8] = []
        for c in s {
            if isPythonSpace(c) {
                if !current.isEmpty { tokens.append(current); current = [] }
            } else {
                appendUTF8(c, to: &current)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    /// Encodes one code point (always valid here: it came from a String's scalars).
    private static func appendUTF8(_ c: UInt32, to bytes: inout [UInt8]) {
        switch c {
        case 0..<0x80: bytes.append(UInt8(c))
        case 0x80..<0x800: bytes += [UInt8(0xC0 | c >> 6), UInt8(0x80 | c & 0x3F)]
        case 0x800..<0x10000: bytes += [UInt8(0xE0 | c >> 12), UInt8(0x80 | c >> 6 & 0x3F), UInt8(0x80 | c & 0x3F)]
        default: bytes += [UInt8(0xF0 | c >> 18), UInt8(0x80 | c >> 12 & 0x3F), UInt8(0x80 | c >> 6 & 0x3F), UInt8(0x80 | c & 0x3F)]
        }
    }
}
