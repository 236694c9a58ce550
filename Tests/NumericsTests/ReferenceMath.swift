/// Plain scalar twins of the fast kernels, in Double, for the tests to compare against.
enum ReferenceMath {
    /// y (m, n) = x (m, k) · w (n, k)^T
    static func matmulTransposed(_ x: [Float], m: Int, k: Int, _ w: [Float], n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        for r in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for i in 0..<k { s += Double(x[r * k + i]) * Double(w[j * k + i]) }
                y[r * n + j] = Float(s)
            }
        }
        return y
    }

    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}

