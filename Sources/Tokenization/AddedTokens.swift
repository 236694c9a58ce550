/// One entry of tokenizer.json's `added_tokens`.
struct AddedToken: Sendable, Equatable {
    var content: String
    var id: Int32
    var special: Bool
    /// Matched against normalized text (and decoded from its normalized form) instead of raw text.
    var normalized: Bool
}

/// Finds added tokens (`</s>`, `<pad>`, `<extra_id_N>`, ...) in text before the model sees it,
/// the way `tokenizers`' AddedVocabulary does: leftmost match first and, among matches starting
/// there, the longest; the text between matches is tokenized normally.
struct AddedTokenMatcher: Sendable {
    private let trie: ByteTrie
    private let isEmpty: Bool

    init(_ tokens: [(pattern: [UInt8], id: Int32)]) {
        trie = ByteTrie(tokens.map { (key: $0.pattern, value: $0.id) })
        isEmpty = tokens.isEmpty
    }

    enum Piece: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    func split(_ bytes: ArraySlice<UInt8>) -> [Piece] {
        guard !isEmpty, !bytes.isEmpty else { return bytes.isEmpty ? [] : [.text(bytes.indices)] }
        var pieces: [Piece] = []
        var textStart = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if trie.child(of: ByteTrie.root, bytes[i]) >= 0, let match = trie.longestPrefix(of: bytes, from: i) {
                if textStart < i { pieces.append(.text(textStart..<i)) }
                pieces.append(.token(match.value))
                i += match.length
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < bytes.endIndex { pieces.append(.text(textStart..<bytes.endIndex)) }
        return pieces
    }
}
