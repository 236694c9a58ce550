/// Longest common subsequences over interned token ids.
enum LCS {
    /// The length only (rougeL), in two rows of memory.
    static func length(_ a: [Int], _ b: [Int]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for i in 1...a.count {
            let x = a[i - 1]
            for j in 1...b.count {
                current[j] = x == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], current[j - 1])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Indices into `reference` of one LCS with `candidate`: the one rouge_score's
    /// `_backtrack_norec` reads out. rougeLsum takes the union of these index sets over candidate
    /// sentences, so when several LCSs exist the choice changes the score; the walk below
    /// reproduces rouge_score's (take a match; otherwise move left only when the cell to the left
    /// is strictly larger than the cell above).
    static func referenceIndices(_ reference: [Int], _ candidate: [Int]) -> [Int] {
        let rows = reference.count, cols = candidate.count
        guard rows > 0, cols > 0 else { return [] }
        let width = cols + 1
        var table = [Int32](repeating: 0, count: (rows + 1) * width)
        for i in 1...rows {
            let x = reference[i - 1]
            for j in 1...cols {
                table[i * width + j] = x == candidate[j - 1]
                    ? table[(i - 1) * width + j - 1] + 1
                    : max(table[(i - 1) * width + j], table[i * width + j - 1])
            }
        }
        var indices: [Int] = []
        var i = rows, j = cols
        while i > 0 && j > 0 {
            if reference[i - 1] == candidate[j - 1] {
                indices.append(i - 1)
                i -= 1
                j -= 1
            } else if table[i * width + j - 1] > table[(i - 1) * width + j] {
                j -= 1
            } else {
                i -= 1
            }
        }
        return indices.reversed()
    }
}
