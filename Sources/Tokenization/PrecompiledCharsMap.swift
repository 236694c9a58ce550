/// SentencePiece's `precompiled_charsmap`: the nmt-NFKC rewrite rules compiled into a
/// darts-clone double-array trie over UTF-8 keys, followed by a blob of NUL-terminated
/// replacement strings the trie's values point into.
///
/// Layout: little-endian UInt32 trie size in bytes, that many bytes of UInt32 units, then the
/// replacement blob. Reading the rules from the model file (instead of calling Foundation's
/// NFKC) is what makes the output match: the table is a fixed snapshot with SentencePiece's own
/// additions (control characters dropped, odd spaces folded to U+0020) and omissions.
struct PrecompiledCharsMap: Sendable {
    private let units: [UInt32]
    private let replacements: [UInt8]
    /// Per-ASCII-byte answer, since almost all text is ASCII and a table beats a trie walk.
    private let asciiReplacements: [[UInt8]?]

    init(_ data: [UInt8]) throws(TokenizerError) {
        guard data.count >= 4 else {
            throw .invalid("normalizer precompiled_charsmap", "is shorter than its 4-byte header")
        }
        let trieBytes = Int(data[0]) | Int(data[1]) << 8 | Int(data[2]) << 16 | Int(data[3]) << 24
        guard trieBytes % 4 == 0, trieBytes >= 4, 4 + trieBytes <= data.count else {
            throw .invalid("normalizer precompiled_charsmap",
                           "declares a \(trieBytes)-byte trie but holds \(data.count - 4) bytes")
        }
        var units = [UInt32](repeating: 0, count: trieBytes / 4)
        for i in units.indices {
            let o = 4 + 4 * i
            units[i] = UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24
        }
        let replacements = Array(data[(4 + trieBytes)...])
        guard String(validating: replacements, as: UTF8.self) != nil else {
            throw .invalid("normalizer precompiled_charsmap", "has replacement strings that are not UTF-8")
        }
        self.units = units
        self.replacements = replacements
        var ascii: [[UInt8]?] = []
        for byte in UInt8(0)..<0x80 {
            ascii.append(Self.transform([byte][...], units: units, replacements: replacements))
        }
        self.asciiReplacements = ascii
    }

    func asciiReplacement(_ byte: UInt8) -> [UInt8]? {
        asciiReplacements[Int(byte)]
    }

    /// The replacement for `chunk`, taken from the *shortest* key that is a prefix of it, as
    /// Hugging Face's `spm_precompiled` does (first common-prefix-search result). Callers pass a
    /// whole grapheme, so a grapheme that only starts with a known key is replaced entirely:
    /// "A\u{302}\u{300}" becomes "Â", dropping the grave accent, exactly like `tokenizers`.
    func transform(_ chunk: ArraySlice<UInt8>) -> [UInt8]? {
        Self.transform(chunk, units: units, replacements: replacements)
    }

    private static func transform(_ chunk: ArraySlice<UInt8>, units: [UInt32], replacements: [UInt8]) -> [UInt8]? {
        guard let offset = firstPrefixValue(chunk, units: units) else { return nil }
        guard offset < replacements.count else { return [] }
        var end = offset
        while end < replacements.count, replacements[end] != 0 { end += 1 }
        return Array(replacements[offset..<end])
    }

    /// darts-clone unit layout: bit 8 marks a node with a value child, bits 0-7 (and bit 31,
    /// set only on value units) are the label, bits 10-31 the offset to the children (shifted
    /// left by 8 when bit 9 is set), bits 0-30 of a value unit the value. A NUL ends the key, as
    /// in the C++ original. Indices are bounds-checked so a corrupt table cannot crash us.
    private static func firstPrefixValue(_ key: ArraySlice<UInt8>, units: [UInt32]) -> Int? {
        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        var node = offset(units[0])
        for byte in key {
            if byte == 0 { return nil }
            node ^= Int(byte)
            guard node < units.count else { return nil }
            let unit = units[node]
            guard unit & (0x8000_0000 | 0xFF) == UInt32(byte) else { return nil }
            node ^= offset(unit)
            guard node < units.count else { return nil }
            if (unit >> 8) & 1 == 1 {
                return Int(units[node] & 0x7FFF_FFFF)
            }
        }
        return nil
    }
}
