/// A read-only trie over byte strings, laid out in flat arrays for cache-friendly walks.
///
/// The Viterbi search asks, at every character of every word, for all vocabulary pieces that
/// start there; walking a trie answers that in one pass over the following bytes, where
/// hashing substrings would cost a lookup per candidate length.
struct ByteTrie: Sendable {
    /// Value stored at each node, or -1.
    private var values: [Int32] = []
    /// Children of node n are edges `edgeStart[n] ..< edgeStart[n + 1]`, sorted by label.
    private var edgeStart: [Int32] = []
    private var edgeLabels: [UInt8] = []
    private var edgeTargets: [Int32] = []
    /// Direct table for the root, whose fan-out is the widest.
    private var rootChildren = [Int32](repeating: -1, count: 256)

    /// Builds from (key, value) pairs. When a key repeats, the last value wins, matching the
    /// `HashMap` insert order `tokenizers` uses for duplicate pieces.
    init<Keys: Sequence>(_ entries: Keys) where Keys.Element == (key: [UInt8], value: Int32) {
        var latest: [[UInt8]: Int32] = [:]
        for (key, value) in entries { latest[key] = value }
        let sorted = latest.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        // Nodes are numbered depth-first; edges of a node are appended when the node is
        // finished, so each node's edges are contiguous.
        var childLists: [[(UInt8, Int32)]] = []
        func build(_ lo: Int, _ hi: Int, depth: Int) -> Int32 {
            let node = Int32(values.count)
            values.append(-1)
            childLists.append([])
            var lo = lo
            if sorted[lo].key.count == depth {
                values[Int(node)] = sorted[lo].value
                lo += 1
            }
            var children: [(UInt8, Int32)] = []
            while lo < hi {
                let label = sorted[lo].key[depth]
                var end = lo + 1
                while end < hi, sorted[end].key[depth] == label { end += 1 }
                children.append((label, build(lo, end, depth: depth + 1)))
                lo = end
            }
            childLists[Int(node)] = children
            return node
        }
        if sorted.isEmpty {
            values = [-1]
            childLists = [[]]
        } else {
            _ = build(0, sorted.count, depth: 0)
        }
        edgeStart.reserveCapacity(values.count + 1)
        for children in childLists {
            edgeStart.append(Int32(edgeLabels.count))
            for (label, target) in children {
                edgeLabels.append(label)
                edgeTargets.append(target)
            }
        }
        edgeStart.append(Int32(edgeLabels.count))
        for (label, target) in childLists[0] { rootChildren[Int(label)] = target }
    }

    static let root: Int32 = 0

    /// The node reached from `node` over `label`, or -1.
    @inline(__always)
    func child(of node: Int32, _ label: UInt8) -> Int32 {
        if node == 0 { return rootChildren[Int(label)] }
        var lo = Int(edgeStart[Int(node)])
        var hi = Int(edgeStart[Int(node) + 1])
        if hi - lo <= 8 {
            while lo < hi {
                if edgeLabels[lo] == label { return edgeTargets[lo] }
                lo += 1
            }
            return -1
        }
        while lo < hi {
            let mid = (lo + hi) / 2
            let m = edgeLabels[mid]
            if m == label { return edgeTargets[mid] }
            if m < label { lo = mid + 1 } else { hi = mid }
        }
        return -1
    }

    /// The value stored at `node`, or -1 when no key ends there.
    @inline(__always)
    func value(at node: Int32) -> Int32 { values[Int(node)] }

    /// Longest key that is a prefix of `bytes[start...]`.
    func longestPrefix(of bytes: ArraySlice<UInt8>, from start: Int) -> (length: Int, value: Int32)? {
        var node: Int32 = 0
        var best: (Int, Int32)?
        var i = start
        while i < bytes.endIndex {
            node = child(of: node, bytes[i])
            if node < 0 { break }
            i += 1
            let value = values[Int(node)]
            if value >= 0 { best = (i - start, value) }
        }
        return best
    }

    func value(for key: ArraySlice<UInt8>) -> Int32? {
        var node: Int32 = 0
        for b in key {
            node = child(of: node, b)
            if node < 0 { return nil }
        }
        let value = values[Int(node)]
        return value >= 0 ? value : nil
    }
}
