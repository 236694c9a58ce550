/// Products with few activation rows (decoder steps: one row per hypothesis) against a large
/// weight matrix. OpenBLAS packs the whole weight matrix on every sgemm call, which makes it
/// 3-4x slower than streaming here; these kernels read each weight row once, apply it to every
/// activation row while it is in L1, and split the weight rows across cores.
public enum SkinnyKernels {
    /// y (m, n) = x (m, k) · W (n, k)^T [· rowScale (n)], rows of y have stride ldy. `w` holds
    /// the rows in layout L, either row after row (`paneled` false) or, for n a multiple of 4,
    /// in panels of 4 rows whose blocks are interleaved (r0 b0, r1 b0, r2 b0, r3 b0, r0 b1, ...)
    /// so that each worker reads one sequential stream, which the hardware prefetcher follows.
    @inlinable
    public static func multiply<L: PackedLayout>(_ layout: L.Type, x: UnsafePointer<Float>, m: Int, k: Int,
                                                 w: UnsafePointer<UInt32>, n: Int, paneled: Bool = false,
                                                 rowScale: UnsafePointer<Float>? = nil,
                                                 y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(L.fits(k), "row length \(k) is not a multiple of the layout block \(L.block)")
        precondition(!paneled || n % 4 == 0, "paneled weights need a multiple of 4 rows")
        let perRow = L.wordsPerRow(k)
        // Words between the same block of neighbouring rows, and between a row's blocks.
        let rowStride = paneled ? L.wordsPerBlock : perRow
        let blockStride = paneled ? 4 * L.wordsPerBlock : L.wordsPerBlock
        // Products too small to repay waking a worker (a LoRA factor for one row is ~25k
        // multiply-adds) run on the calling thread.
        let minimumRows = max(32, (1 << 16) / max(1, m * k))
        WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: minimumRows) { range in
            var j = range.lowerBound
            while j + 4 <= range.upperBound {
                let rows = w + j * perRow
                let scale = rowScale.map { SIMD4<Float>($0[j], $0[j + 1], $0[j + 2], $0[j + 3]) } ?? SIMD4(repeating: 1)
                // Two activation rows per pass: each widened weight vector feeds both, halving
                // the widening work and the weight loads per multiply-add.
                var r = 0
                while r + 2 <= m {
                    let (s0, s1) = dot4x2(L.self, x + r * k, x + (r + 1) * k, rows, rowStride, blockStride, k)
                    store4(s0 * scale, y + r * ldy + j)
                    store4(s1 * scale, y + (r + 1) * ldy + j)
                    r += 2
                }
                if r < m { store4(dot4(L.self, x + r * k, rows, rowStride, blockStride, k) * scale, y + r * ldy + j) }
                j += 4
            }
            while j < range.upperBound {
                for r in 0..<m { y[r * ldy + j] = dot1(L.self, x + r * k, w + j * perRow, k) * (rowScale?[j] ?? 1) }
                j += 1
            }
        }
    }

    @inlinable @inline(__always)
    static func store4(_ v: SIMD4<Float>, _ out: UnsafeMutablePointer<Float>) {
        out[0] = v[0]; out[1] = v[1]; out[2] = v[2]; out[3] = v[3]
    }

    /// The dot products of 4 weight rows with 2 activation rows; each sum is accumulated in the
    /// same order as `dot4`, so results do not depend on how rows are paired.
    @inlinable @inline(__always)
    static func dot4x2<L: PackedLayout>(_: L.Type, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                                        _ w: UnsafePointer<UInt32>, _ rowStride: Int, _ blockStride: Int,
                                        _ k: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var i = 0, word = 0
        while i < k {
            let b = w + word
            for p in 0..<L.parts {
                let w0 = L.widen(b, p), w1 = L.widen(b + rowStride, p)
                let w2 = L.widen(b + 2 * rowStride, p), w3 = L.widen(b + 3 * rowStride, p)
                let u = L.loadX(x0, i + 8 * p), v = L.loadX(x1, i + 8 * p)
                a0.addProduct(w0, u); a1.addProduct(w1, u); a2.addProduct(w2, u); a3.addProduct(w3, u)
                b0.addProduct(w0, v); b1.addProduct(w1, v); b2.addProduct(w2, v); b3.addProduct(w3, v)
            }
            i += L.block
            word += blockStride
        }
        return (SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum()), SIMD4(b0.sum(), b1.sum(), b2.sum(), b3.sum()))
    }

    @inlinable @inline(__always)
    static func dot4<L: PackedLayout>(_: L.Type, _ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt32>,
                                      _ rowStride: Int, _ blockStride: Int, _ k: Int) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0, word = 0
        while i < k {
            let b = w + word
            L.accumulate(b, x + i, &a0)
            L.accumulate(b + rowStride, x + i, &a1)
            L.accumulate(b + 2 * rowStride, x + i, &a2)
            L.accumulate(b + 3 * rowStride, x + i, &a3)
            i += L.block
            word += blockStride
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    }

    @inlinable @inline(__always)
    static func dot1<L: PackedLayout>(_: L.Type, _ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt32>, _ k: Int) -> Float {
        var a = SIMD8<Float>()
        var i = 0, word = 0
        while i < k {
            L.accumulate(w + word, x + i, &a)
            i += L.block
            word += L.wordsPerBlock
        }
        return a.sum()
    }
}

/// How a weight row is laid out in 32-bit words so that widening to F32 is a few shifts and
/// masks on whole vectors (Swift's generic SIMD conversions are not reliably inlined).
public protocol PackedLayout {
    /// Weights per block; rows are a whole number of blocks.
    static var block: Int { get }
    static var wordsPerBlock: Int { get }
    /// Vectors of 8 per block (block / 8).
    static var parts: Int { get }
    /// Part p (weights 8p..<8p+8) of the block at w, as F32.
    static func widen(_ w: UnsafePointer<UInt32>, _ p: Int) -> SIMD8<Float>
    /// acc += W_block · x[0..<block]; by default part by part through `widen`.
    static func accumulate(_ w: UnsafePointer<UInt32>, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>)
    /// Packs one row of `k` weights (k a multiple of `block`).
    static func pack(_ row: UnsafePointer<Float>, _ k: Int, scale: Float, into words: UnsafeMutablePointer<UInt32>)
    /// Unpacks one row to F32 (without the row scale).
    static func unpack(_ words: UnsafePointer<UInt32>, _ k: Int, into row: UnsafeMutablePointer<Float>)
}

extension PackedLayout {
    @inlinable @inline(__always)
    public static func accumulate(_ w: UnsafePointer<UInt32>, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        for p in 0..<parts { acc.addProduct(widen(w, p), loadX(x, 8 * p)) }
    }
    @inlinable public static func wordsPerRow(_ k: Int) -> Int { k / block * wordsPerBlock }
    @inlinable public static func fits(_ k: Int) -> Bool { k % block == 0 }
    @inlinable @inline(__always)
    static func loadX(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inlinable @inline(__always)
    static func loadWords(_ w: UnsafePointer<UInt32>) -> SIMD8<UInt32> {
        UnsafeRawPointer(w).loadUnaligned(as: SIMD8<UInt32>.self)
    }
}

/// F32 bits, 8 per block.
public enum F32Layout: PackedLayout {
    public static let block = 8, wordsPerBlock = 8, parts = 1
    @inlinable @inline(__always)
    public static func widen(_ w: UnsafePointer<UInt32>, _ p: Int) -> SIMD8<Float> {
        unsafeBitCast(loadWords(w), to: SIMD8<Float>.self)
    }
    public static func pack(_ row: UnsafePointer<Float>, _ k: Int, scale: Float, into words: UnsafeMutablePointer<UInt32>) {
        for i in 0..<k { words[i] = row[i].bitPattern }
    }
    public static func unpack(_ words: UnsafePointer<UInt32>, _ k: Int, into row: UnsafeMutablePointer<Float>) {
        for i in 0..<k { row[i] = Float(bitPattern: words[i]) }
    }
}

/// BF16, 16 per block: word t holds weight t in its low half and weight 8+t in its high half,
/// so `word << 16` and `word & 0xFFFF0000` are the two F32 vectors of the block.
public enum BF16Layout: PackedLayout {
    public static let block = 16, wordsPerBlock = 8, parts = 2
    @inlinable @inline(__always)
    public static func widen(_ w: UnsafePointer<UInt32>, _ p: Int) -> SIMD8<Float> {
        let v = loadWords(w)
        return unsafeBitCast(p == 0 ? v &<< 16 : v & 0xFFFF_0000, to: SIMD8<Float>.self)
    }
    public static func pack(_ row: UnsafePointer<Float>, _ k: Int, scale: Float, into words: UnsafeMutablePointer<UInt32>) {
        for b in 0..<(k / 16) {
            for t in 0..<8 {
                let lo = UInt32(floatToBF16(row[b * 16 + t])), hi = UInt32(floatToBF16(row[b * 16 + 8 + t]))
                words[b * 8 + t] = lo | (hi << 16)
            }
        }
    }
    public static func unpack(_ words: UnsafePointer<UInt32>, _ k: Int, into row: UnsafeMutablePointer<Float>) {
        for b in 0..<(k / 16) {
            for t in 0..<8 {
                let word = words[b * 8 + t]
                row[b * 16 + t] = Float(bitPattern: word << 16)
                row[b * 16 + 8 + t] = Float(bitPattern: word & 0xFFFF_0000)
            }
        }
    }
}

/// INT8 (symmetric, per-row scale applied by the caller), 32 per block: byte q of word t is
/// weight 8q+t. Bytes are sign-extended with shifts, and turned into floats exactly with the
/// 1.5 * 2^23 magic number (valid for |v| < 2^22).
public enum Int8Layout: PackedLayout {
    public static let block = 32, wordsPerBlock = 8
    @inlinable @inline(__always)
    static func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        unsafeBitCast(v &+ 0x4B40_0000, to: SIMD8<Float>.self) - 12_582_912
    }
    public static let parts = 4
    @inlinable @inline(__always)
    public static func widen(_ w: UnsafePointer<UInt32>, _ p: Int) -> SIMD8<Float> {
        let v = unsafeBitCast(loadWords(w), to: SIMD8<Int32>.self)
        let lanes: SIMD8<Int32>
        switch p {
        case 0: lanes = (v &<< 24) &>> 24
        case 1: lanes = (v &<< 16) &>> 24
        case 2: lanes = (v &<< 8) &>> 24
        default: lanes = v &>> 24
        }
        return toFloat(lanes)
    }
    /// The block's words loaded once for all four parts: 5-8% faster than the default's
    /// part-by-part `widen` on the one-row decode path (measured with bench-kernels).
    @inlinable @inline(__always)
    public static func accumulate(_ w: UnsafePointer<UInt32>, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        let v = unsafeBitCast(loadWords(w), to: SIMD8<Int32>.self)
        acc.addProduct(toFloat((v &<< 24) &>> 24), loadX(x, 0))
        acc.addProduct(toFloat((v &<< 16) &>> 24), loadX(x, 8))
        acc.addProduct(toFloat((v &<< 8) &>> 24), loadX(x, 16))
        acc.addProduct(toFloat(v &>> 24), loadX(x, 24))
    }
    public static func pack(_ row: UnsafePointer<Float>, _ k: Int, scale: Float, into words: UnsafeMutablePointer<UInt32>) {
        for b in 0..<(k / 32) {
            for t in 0..<8 {
                var word: UInt32 = 0
                for q in 0..<4 {
                    let v = Int8(max(-127, min(127, (row[b * 32 + 8 * q + t] / scale).rounded())))
                    word |= UInt32(UInt8(bitPattern: v)) << (8 * UInt32(q))
                }
                words[b * 8 + t] = word
            }
        }
    }
    public static func unpack(_ words: UnsafePointer<UInt32>, _ k: Int, into row: UnsafeMutablePointer<Float>) {
        for b in 0..<(k / 32) {
            for t in 0..<8 {
                let word = words[b * 8 + t]
                for q in 0..<4 { row[b * 32 + 8 * q + t] = Float(Int8(bitPattern: UInt8(truncatingIfNeeded: word >> (8 * UInt32(q))))) }
            }
        }
    }
}
