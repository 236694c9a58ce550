import CKernels

/// An F32 matrix held as two 16-bit planes (CKernels' ck_planes.h): each weight's upper half
/// (its bf16 truncation) in one array, its lower half in another. The same 4 bytes a weight and
/// the same products as plain F32, plus `greedyTokens`, which reads the upper plane alone and
/// the lower one only for the few rows that could still be the largest. Holds the lm_head of
/// F32 weights: 99 MB of the 495 MB a FLAN-T5-base step streams, at every token.
public final class F32Planes: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    private let hi: [UInt16]   // (rows, columns): upper 16 bits of each weight
    private let lo: [UInt16]   // (rows, columns): lower 16 bits

    public init(values: [Float], rows: Int, columns: Int) {
        precondition(values.count == rows * columns)
        self.rows = rows
        self.columns = columns
        var hi = [UInt16](repeating: 0, count: rows * columns), lo = hi
        values.withUnsafeBufferPointer { v in
            hi.withUnsafeMutableBufferPointer { h in
                lo.withUnsafeMutableBufferPointer { l in
                    ck_planes_split(v.baseAddress!, rows, columns, h.baseAddress!, l.baseAddress!)
                }
            }
        }
        self.hi = hi
        self.lo = lo
    }

    public var bytes: Int { 4 * rows * columns }

    /// y (m, rows) = x (m, columns) · W^T exactly in F32, streaming (few activation rows).
    public func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA? = nil) {
        let variant = (isa ?? .selected).c, k = columns
        hi.withUnsafeBufferPointer { h in
            lo.withUnsafeBufferPointer { l in
                let hp = h.baseAddress!, lp = l.baseAddress!
                WorkerPool.parallelFor(rows, grain: 4, minimumPerWorker: SkinnyKernels.minimumRowsPerWorker(m: m, k: k)) { range in
                    ck_planes_product(variant, x, m, k, hp, lp, range.lowerBound, range.upperBound, y, rows)
                }
            }
        }
    }

    /// Rows of W as F32 into `out` ((range.count, columns)).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>, isa: KernelISA? = nil) {
        hi.withUnsafeBufferPointer { h in
            lo.withUnsafeBufferPointer { l in
                ck_planes_widen((isa ?? .selected).c, h.baseAddress!, l.baseAddress!, columns,
                                range.lowerBound, range.upperBound, out)
            }
        }
    }

    /// Rows `range` of y (m, ldy; column j for row j) = x · W^T by the kernel alone, on the
    /// calling thread: what `greedyTokens` re-scores with, for tests to hold it to `multiply`.
    func product(_ x: UnsafePointer<Float>, m: Int, rows range: Range<Int>, into y: UnsafeMutablePointer<Float>,
                 ldy: Int, isa: KernelISA? = nil) {
        hi.withUnsafeBufferPointer { h in
            lo.withUnsafeBufferPointer { l in
                ck_planes_product((isa ?? .selected).c, x, m, columns, h.baseAddress!, l.baseAddress!,
                                  range.lowerBound, range.upperBound, y, ldy)
            }
        }
    }

    /// The plain reference product (double sums): y (m, rows).
    func productReference(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>) {
        hi.withUnsafeBufferPointer { h in
            lo.withUnsafeBufferPointer { l in
                ck_planes_product_reference(x, m, columns, h.baseAddress!, l.baseAddress!, 0, rows, y, rows)
            }
        }
    }

    /// The upper plane's sums (approx, size), each (m, rows), by the kernel or the reference.
    func screen(_ x: UnsafePointer<Float>, m: Int, isa: KernelISA? = nil, reference: Bool = false) -> ([Float], [Float]) {
        var approx = [Float](repeating: 0, count: m * rows), size = approx
        hi.withUnsafeBufferPointer { h in
            approx.withUnsafeMutableBufferPointer { a in
                size.withUnsafeMutableBufferPointer { s in
                    if reference {
                        ck_planes_screen_reference(x, m, columns, h.baseAddress!, 0, rows, a.baseAddress!, s.baseAddress!, rows)
                    } else {
                        ck_planes_screen((isa ?? .selected).c, x, m, columns, h.baseAddress!, 0, rows, a.baseAddress!,
                                         s.baseAddress!, rows)
                    }
                }
            }
        }
        return (approx, size)
    }

    /// Row r joined by plain Swift: the reference for the kernels.
    public func referenceRow(_ r: Int) -> [Float] {
        (0..<columns).map { c in Float(bitPattern: UInt32(hi[r * columns + c]) << 16 | UInt32(lo[r * columns + c])) }
    }

    /// For each activation row r of x (m, columns): the first j with the largest x[r] · W[j]
    /// among the rows not in masked[r], exactly the token a scan with `>` over the full F32
    /// product (masked entries at -inf) picks; 0 when every row is masked, as that scan gives.
    /// nil when a bound or a re-scored value is not finite: the caller then takes the full
    /// product, whose checks see what went wrong.
    ///
    /// Why it is exact: the upper plane truncates each weight to 8 significant bits, so
    /// |w - hi| < 2^-7 |hi| (2^-133 where hi is 0), and the pass over it also sums |x| · |hi|
    /// (`size`). With the F32 rounding of both sums (gamma = columns · 2^-24), the exact product
    /// lies within B = (2^-7 + 3 gamma) · size + 2^-100 · sum |x| of the approximate one. A row
    /// whose upper end a + B falls below the best lower end max(a - B) cannot be the largest, and
    /// cannot tie it, so only the others are re-scored, with the very sums `multiply` makes.
    public func greedyTokens(_ x: UnsafePointer<Float>, m: Int, masked: [[Int32]], isa: KernelISA? = nil) -> [Int32]? {
        precondition(masked.count == m)
        let n = rows, k = columns, variant = (isa ?? .selected).c
        return Scratch.with(bytes: 2 * m * n * 4) { raw in
            let approx = raw.bindMemory(to: Float.self, capacity: 2 * m * n)   // (m, n)
            let size = approx + m * n                                           // (m, n)
            hi.withUnsafeBufferPointer { h in
                let hp = h.baseAddress!
                WorkerPool.parallelFor(n, grain: 16, minimumPerWorker: 256) { range in
                    ck_planes_screen(variant, x, m, k, hp, range.lowerBound, range.upperBound, approx, size, n)
                }
            }
            var tokens: [Int32] = []
            for r in 0..<m {
                guard let token = greedyToken(x + r * k, approx: approx + r * n, size: size + r * n, masked: masked[r],
                                              isa: isa) else { return nil }
                tokens.append(token)
            }
            return tokens
        }
    }

    /// One activation row's token from its screened sums (n each; approx is overwritten where masked).
    private func greedyToken(_ row: UnsafePointer<Float>, approx a: UnsafeMutablePointer<Float>,
                             size s: UnsafePointer<Float>, masked: [Int32], isa: KernelISA?) -> Int32? {
        let n = rows, k = columns
        // Finite sums well inside F32's range, or the full product decides.
        for j in 0..<n where !(a[j].isFinite && s[j] < 1e37) { return nil }
        for t in masked where Int(t) >= 0 && Int(t) < n { a[Int(t)] = -.infinity }
        let relative = 0x1p-7 + 3 * Double(k) * 0x1p-24
        var absolute = 0.0
        for c in 0..<k { absolute += Double(abs(row[c])) }
        absolute *= 0x1p-100
        var floor = -Double.infinity
        for j in 0..<n { floor = max(floor, Double(a[j]) - (relative * Double(s[j]) + absolute)) }
        if floor == -.infinity { return 0 }   // every row masked
        var best = -1
        var bestValue = -Float.infinity
        var value: Float = 0
        for j in 0..<n where Double(a[j]) + (relative * Double(s[j]) + absolute) >= floor {
            withUnsafeMutablePointer(to: &value) { v in   // the kernel writes column j: at v
                product(row, m: 1, rows: j..<(j + 1), into: v - j, ldy: 1, isa: isa)
            }
            guard value.isFinite else { return nil }
            if best < 0 || value > bestValue { best = j; bestValue = value }
        }
        return Int32(best)
    }
}
