/// Byte-level helpers: the pipeline works on UTF-8 bytes end to end because the Unigram trie and
/// the charsmap are keyed by bytes, and converting back and forth to String per word would
/// dominate the cost of encoding.
enum UTF8Scanning {
    /// Length of the scalar whose first byte is `lead`. Input always comes from a Swift String
    /// or a validated table, so continuation bytes never appear in lead position.
    @inline(__always)
    static func scalarLength(lead: UInt8) -> Int {
        if lead < 0x80 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }

    static func scalar(_ bytes: ArraySlice<UInt8>, at i: Int) -> (value: UInt32, length: Int) {
        let lead = bytes[i]
        let length = scalarLength(lead: lead)
        var value: UInt32
        switch length {
        case 1: return (UInt32(lead), 1)
        case 2: value = UInt32(lead & 0x1F)
        case 3: value = UInt32(lead & 0x0F)
        default: value = UInt32(lead & 0x07)
        }
        for k in 1..<length { value = value << 6 | UInt32(bytes[i + k] & 0x3F) }
        return (value, length)
    }

    /// Rust's `char::is_whitespace` (the Unicode White_Space property), which `tokenizers` uses
    /// for WhitespaceSplit and Strip. Spelled out because U+200B and U+FEFF are deliberately
    /// not in it, and the split must agree character for character.
    static func isWhitespace(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's word-boundary marker, as UTF-8.
    static let metaspace: [UInt8] = [0xE2, 0x96, 0x81]
}
