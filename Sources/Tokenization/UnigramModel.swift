/// SentencePiece's Unigram model as `tokenizers` runs it: the highest-scoring segmentation of
/// each word into vocabulary pieces (Viterbi over log-probabilities), with characters no piece
/// covers emitted as `<unk>` at a heavy penalty and consecutive unknowns fused into one token.
struct UnigramModel: Sendable {
    let pieces: [String]
    let scores: [Double]
    let trie: ByteTrie
    let unkID: Int32
    /// Lowest piece score minus 10, as in both SentencePiece and `tokenizers`: an unknown
    /// character must never beat a real piece, but the path must still exist.
    let unkScore: Double

    init(pieces: [String], scores: [Double], unkID: Int32) {
        self.pieces = pieces
        self.scores = scores
        self.unkID = unkID
        self.trie = ByteTrie(pieces.enumerated().map { (key: Array($0.element.utf8), value: Int32($0.offset)) })
        // `tokenizers` takes the minimum over every piece, control tokens included.
        self.unkScore = (scores.min() ?? 0) - 10.0
    }

    /// Reused per-encode buffers: the lattice for one word is a few arrays the length of the
    /// word, and allocating them per word would cost more than the search.
    struct Lattice {
        var bestScore: [Double] = []
        var startsAt: [Int32] = []
        var pieceID: [Int32] = []
        var reversed: [Int32] = []
        /// Elementary steps taken so far (cells cleared, trie edges followed), for
        /// `T5Tokenizer.encodeCountingSteps`.
        var steps = 0

        mutating func reset(_ count: Int) {
            steps += count
            if bestScore.count < count {
                bestScore = [Double](repeating: 0, count: count)
                startsAt = [Int32](repeating: -1, count: count)
                pieceID = [Int32](repeating: 0, count: count)
            }
            for i in 0..<count {
                bestScore[i] = 0
                startsAt[i] = -1
            }
            reversed.removeAll(keepingCapacity: true)
        }
    }

    /// Appends the ids of `word` (bytes `range` of `bytes`) to `ids`.
    ///
    /// Mirrors `Unigram::encode_optimized` step for step, because ties are decided by order:
    /// start positions left to right, candidate pieces shortest first, and a node is replaced
    /// only by a strictly better score.
    func encode(_ bytes: [UInt8], _ range: Range<Int>, into ids: inout [Int32], lattice: inout Lattice) {
        let size = range.count
        guard size > 0 else { return }
        lattice.reset(size + 1)
        bytes.withUnsafeBufferPointer { all in
            let word = UnsafeBufferPointer(rebasing: all[range])
            var position = 0
            while position < size {
                let tillHere = lattice.bestScore[position]
                let charLength = UTF8Scanning.scalarLength(lead: word[position])
                var hasSingleCharPiece = false
                var node = ByteTrie.root
                var i = position
                while i < size {
                    lattice.steps += 1
                    node = trie.child(of: node, word[i])
                    if node < 0 { break }
                    i += 1
                    let id = trie.value(at: node)
                    guard id >= 0 else { continue }
                    let candidate = scores[Int(id)] + tillHere
                    if lattice.startsAt[i] < 0 || candidate > lattice.bestScore[i] {
                        lattice.bestScore[i] = candidate
                        lattice.startsAt[i] = Int32(position)
                        lattice.pieceID[i] = id
                    }
                    if i - position == charLength { hasSingleCharPiece = true }
                }
                if !hasSingleCharPiece {
                    let end = position + charLength
                    let candidate = unkScore + tillHere
                    if lattice.startsAt[end] < 0 || candidate > lattice.bestScore[end] {
                        lattice.bestScore[end] = candidate
                        lattice.startsAt[end] = Int32(position)
                        lattice.pieceID[end] = unkID
                    }
                }
                position += charLength
            }

            // Walk back from the end; runs of unknowns become one token whose id is looked up
            // as a whole (it is `<unk>` unless the fused text happens to be a piece).
            var end = size
            var unknownEnd = -1
            while end > 0 {
                let start = Int(lattice.startsAt[end])
                let id = lattice.pieceID[end]
                if id == unkID {
                    if unknownEnd < 0 { unknownEnd = end }
                } else {
                    if unknownEnd >= 0 {
                        lattice.reversed.append(fusedUnknownID(word, end..<unknownEnd))
                        unknownEnd = -1
                    }
                    lattice.reversed.append(id)
                }
                end = start
            }
            if unknownEnd >= 0 {
                lattice.reversed.append(fusedUnknownID(word, 0..<unknownEnd))
            }
        }
        ids.append(contentsOf: lattice.reversed.reversed())
    }

    private func fusedUnknownID(_ word: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int32 {
        var node = ByteTrie.root
        for i in range {
            node = trie.child(of: node, word[i])
            if node < 0 { return unkID }
        }
        let id = trie.value(at: node)
        return id >= 0 ? id : unkID
    }
}
