import CKernels

/// Products with few activation rows (decoder steps: one row per hypothesis) against a large
/// weight matrix. OpenBLAS packs the whole weight matrix on every sgemm call, which makes it
/// 3-4x slower than streaming here; these kernels read each weight row once, apply it to every
/// activation row while it is in L1, and split the weight rows across cores. The arithmetic is
/// CKernels' per-ISA variants (`KernelISA`).
public enum SkinnyKernels {
    /// y (m, n) = x (m, k) · W (n, k)^T [· rowScale (n)], rows of y have stride ldy. `w` holds
    /// the rows in layout L, either row after row (`paneled` false) or, for n a multiple of 4,
    /// in panels of 4 rows whose blocks are interleaved (r0 b0, r1 b0, r2 b0, r3 b0, r0 b1, ...)
    /// so that each worker reads one sequential stream, which the hardware prefetcher follows.
    /// `isa` picks a variant (tests run each); nil is `KernelISA.selected`.
    public static func multiply<L: PackedLayout>(_ layout: L.Type, x: UnsafePointer<Float>, m: Int, k: Int,
                                                 w: UnsafePointer<UInt32>, n: Int, paneled: Bool = false,
                                                 rowScale: UnsafePointer<Float>? = nil,
                                                 y: UnsafeMutablePointer<Float>, ldy: Int, isa: KernelISA? = nil) {
        precondition(L.fits(k), "row length \(k) is not a multiple of the layout block \(L.block)")
        precondition(!paneled || n % 4 == 0, "paneled weights need a multiple of 4 rows")
        let variant = (isa ?? .selected).c
        WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: minimumRowsPerWorker(m: m, k: k)) { range in
            ck_skinny_product(variant, L.ckLayout, x, m, k, w, paneled ? 1 : 0, rowScale,
                              range.lowerBound, range.upperBound, y, ldy)
        }
    }

    /// Weight rows a worker takes at least in a streaming product with m activation rows of k:
    /// about 64 Ki multiply-adds, so products too small to repay waking a worker (a LoRA factor
    /// for one row is ~25k) run on the calling thread and a small one is not split into slivers.
    public static func minimumRowsPerWorker(m: Int, k: Int) -> Int { max(32, (1 << 16) / max(1, m * k)) }
}

/// How a weight row is laid out in 32-bit words so that widening to F32 is a few shifts and
/// masks on whole vectors (Swift's generic SIMD conversions are not reliably inlined).
public protocol PackedLayout {
    /// Weights per block; rows are a whole number of blocks.
    static var block: Int { get }
    static var wordsPerBlock: Int { get }
    /// The same layout as CKernels names it.
    static var ckLayout: ck_layout { get }
    /// Packs one row of `k` weights (k a multiple of `block`).
    static func pack(_ row: UnsafePointer<Float>, _ k: Int, scale: Float, into words: UnsafeMutablePointer<UInt32>)
    /// Unpacks one row to F32 (without the row scale).
    static func unpack(_ words: UnsafePointer<UInt32>, _ k: Int, into row: UnsafeMutablePointer<Float>)
}

extension PackedLayout {
    @inlinable public static func wordsPerRow(_ k: Int) -> Int { k / block * wordsPerBlock }
    @inlinable public static func fits(_ k: Int) -> Bool { k % block == 0 }
}

/// F32 bits, 8 per block.
public enum F32Layout: PackedLayout {
    public static let block = 8, wordsPerBlock = 8
    public static var ckLayout: ck_layout { CK_LAYOUT_F32 }
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
    public static let block = 16, wordsPerBlock = 8
    public static var ckLayout: ck_layout { CK_LAYOUT_BF16 }
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
/// weight 8q+t (so a 32-bit lane shifted by 8q holds weight 8q+t of 8 consecutive ones). The
/// kernels widen the bytes in stored order and permute the activations to match; oneDNN's
/// int8 GEMM reads the same bytes, with activations quantised in that order.
public enum Int8Layout: PackedLayout {
    public static let block = 32, wordsPerBlock = 8
    public static var ckLayout: ck_layout { CK_LAYOUT_INT8 }
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
