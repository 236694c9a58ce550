import CKernels
import Foundation

/// How the frozen base's weights are held in memory. Computation is always F32; BF16 (FLAN-T5's
/// training precision) halves and INT8 (per-output-row scales) quarters the bytes each decoder
/// step has to stream from memory, which is what bounds decoding speed. NF4 (QLoRA's 4-bit
/// NormalFloat with an fp32 absmax per 64 weights, `NF4Matrix`) takes 0.5625 bytes a weight.
public enum WeightFormat: String, Sendable, CaseIterable {
    case fp32, bf16, int8, nf4
}

/// A Linear layer's weight (out_features, in_features), stored in a `WeightFormat`.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int       // out_features
    public let columns: Int    // in_features
    /// The format actually used: a matrix whose width does not fit the packed layout stays F32.
    public let format: WeightFormat
    private let words: [UInt32]   // (rows, wordsPerRow) in the format's PackedLayout
    private let scales: [Float]   // (rows) for int8
    /// Σ_c q[r, c] per row (rows) for int8: removes the activations' zero point from the s32
    /// products (Σ (a - z) q = Σ a q - z Σ q).
    private let rowSums: [Int32]
    /// bf16 rows are stored in block-interleaved panels of 4 (see SkinnyKernels); fp32 and int8
    /// stay row after row so OpenBLAS and oneDNN read them directly for prefill.
    private let paneled: Bool
    /// The weights when the format is nf4 (`words` and `scales` are then empty).
    public let nf4: NF4Matrix?
    /// The weights of an fp32 matrix built `planar` (`words` is then empty): the same bytes in
    /// two 16-bit planes, for `greedyTokens`.
    public let planes: F32Planes?
    /// Activation rows up to which the streaming kernel beats OpenBLAS (which packs the
    /// whole weight matrix per call); measured on the 2-core EPYC.
    public static let skinnyRowLimit = 16

    /// `planar`: an fp32 matrix keeps its weights as `F32Planes` (an lm_head; ignored for the
    /// other formats).
    public init(values: [Float], rows: Int, columns: Int, format requested: WeightFormat = .fp32, planar: Bool = false) {
        precondition(values.count == rows * columns)
        self.rows = rows; self.columns = columns
        let format: WeightFormat = switch requested {
        case .bf16 where BF16Layout.fits(columns): .bf16
        case .int8 where Int8Layout.fits(columns): .int8
        case .nf4 where NF4Matrix.fits(columns): .nf4
        default: .fp32
        }
        self.format = format
        var scales = [Float]()
        if format == .int8 {
            scales = (0..<rows).map { r in
                let m = values[(r * columns)..<((r + 1) * columns)].reduce(Float(0)) { max($0, abs($1)) }
                return m > 0 ? m / 127 : 1
            }
        }
        let planes = planar && format == .fp32
        let perRow = planes ? 0 : Self.wordsPerRow(format, columns)
        let paneled = format == .bf16 && rows % 4 == 0
        var words = [UInt32](repeating: 0, count: rows * perRow)
        var rowWords = [UInt32](repeating: 0, count: perRow)
        values.withUnsafeBufferPointer { v in
            words.withUnsafeMutableBufferPointer { w in
                rowWords.withUnsafeMutableBufferPointer { tmp in
                    for r in 0..<rows where !planes {
                        let row = v.baseAddress! + r * columns
                        switch format {
                        case .fp32: F32Layout.pack(row, columns, scale: 1, into: tmp.baseAddress!)
                        case .bf16: BF16Layout.pack(row, columns, scale: 1, into: tmp.baseAddress!)
                        case .int8: Int8Layout.pack(row, columns, scale: scales[r], into: tmp.baseAddress!)
                        case .nf4: break   // no words: `nf4` holds the weights
                        }
                        for word in 0..<perRow { w[Self.wordIndex(row: r, word: word, perRow: perRow, format: format, paneled: paneled)] = tmp[word] }
                    }
                }
            }
        }
        self.rowSums = format != .int8 ? [] : words.withUnsafeBytes { bytes in
            let q = bytes.bindMemory(to: Int8.self)
            return (0..<rows).map { r in (0..<columns).reduce(Int32(0)) { $0 + Int32(q[r * columns + $1]) } }
        }
        self.words = words
        self.scales = scales
        self.paneled = paneled
        self.nf4 = format == .nf4 ? NF4Matrix(values: values, rows: rows, columns: columns) : nil
        self.planes = planes ? F32Planes(values: values, rows: rows, columns: columns) : nil
    }

    /// Where word `word` of row `row` lives: plain row-major, or in a 4-row panel with blocks
    /// interleaved.
    @inline(__always)
    static func wordIndex(row: Int, word: Int, perRow: Int, format: WeightFormat, paneled: Bool) -> Int {
        guard paneled else { return row * perRow + word }
        let wpb = format == .bf16 ? BF16Layout.wordsPerBlock : Int8Layout.wordsPerBlock
        let panel = row / 4, r = row % 4, block = word / wpb, offset = word % wpb
        return panel * 4 * perRow + (block * 4 + r) * wpb + offset
    }

    public convenience init(_ tensor: Tensor, format: WeightFormat = .fp32, planar: Bool = false) {
        precondition(tensor.shape.count == 2)
        self.init(values: tensor.storage, rows: tensor.shape[0], columns: tensor.shape[1], format: format, planar: planar)
    }

    static func wordsPerRow(_ format: WeightFormat, _ k: Int) -> Int {
        switch format {
        case .fp32: k
        case .bf16: BF16Layout.wordsPerRow(k)
        case .int8: Int8Layout.wordsPerRow(k)
        case .nf4: 0
        }
    }

    /// Bytes the weights occupy.
    public var bytes: Int { words.count * 4 + scales.count * 4 + (nf4?.bytes ?? 0) + (planes?.bytes ?? 0) }

    /// How int8 weights meet many activation rows (prefill).
    public enum Int8Product: String, Sendable, CaseIterable {
        /// Activations quantised per row to u8 (zero point, `KernelISA.activationBits`), s32
        /// products by oneDNN's u8s8s32 GEMM (VNNI where present), rescaled per row and column.
        case oneDNN
        /// The same quantised product by the plain C loop: the reference oneDNN is tested against.
        case reference
        /// Weights widened to F32 and an sgemm (`SGEMMBackend`) on unquantised activations (the
        /// former path, and bf16's).
        case dequantized
    }

    /// How fp32 weights meet many activation rows.
    public enum SGEMMBackend: String, Sendable, CaseIterable {
        case openBLAS, oneDNN
    }

    /// Whether this CPU runs the VNNI int8 decode kernel (AVX-512 VNNI).
    public static let vnniAvailable = ck_vnni_supported() != 0
    /// Few-row int8 products (decode) quantise the activations too and run on VNNI where the
    /// selected variant is avx512 and the CPU has it; false keeps the widening kernel.
    nonisolated(unsafe) public static var int8DecodeOnVNNI = true

    /// The prefill choices, measured with `bench-kernels` (README, speed): oneDNN for both.
    nonisolated(unsafe) public static var int8Prefill = Int8Product.oneDNN
    nonisolated(unsafe) public static var fp32Prefill = SGEMMBackend.oneDNN

    /// y (m, rows) = x (m, columns) · W^T. `isa` picks the streaming kernels' variant (nil: the
    /// selected one); `int8` and `sgemm` override the prefill choices (benchmarks, tests).
    public func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA? = nil,
                         int8: Int8Product? = nil, sgemm: SGEMMBackend? = nil) {
        guard m > 0 else { return }
        if let nf4 {
            nf4.multiply(x, m: m, into: y, isa: isa, sgemm: sgemm ?? Self.fp32Prefill)
            return
        }
        if let planes, m <= Self.skinnyRowLimit {
            planes.multiply(x, m: m, into: y, isa: isa)
            return
        }
        if m <= Self.skinnyRowLimit && format == .int8 && (int8 ?? Self.int8Prefill) != .dequantized
            && Self.int8DecodeOnVNNI && (isa ?? .selected) == .avx512 && Self.vnniAvailable {
            multiplyVNNI(x, m: m, into: y)
            return
        }
        if m <= Self.skinnyRowLimit && planes == nil && (format != .fp32 || F32Layout.fits(columns)) {
            words.withUnsafeBufferPointer { w in
                let wp = w.baseAddress!
                switch format {
                case .fp32: SkinnyKernels.multiply(F32Layout.self, x: x, m: m, k: columns, w: wp, n: rows, y: y, ldy: rows, isa: isa)
                case .bf16: SkinnyKernels.multiply(BF16Layout.self, x: x, m: m, k: columns, w: wp, n: rows, paneled: paneled,
                                                   y: y, ldy: rows, isa: isa)
                case .int8:
                    scales.withUnsafeBufferPointer { s in
                        SkinnyKernels.multiply(Int8Layout.self, x: x, m: m, k: columns, w: wp, n: rows, paneled: paneled,
                                               rowScale: s.baseAddress!, y: y, ldy: rows, isa: isa)
                    }
                case .nf4: break   // multiplied above
                }
            }
            return
        }
        if format == .fp32 && planes == nil {
            words.withUnsafeBufferPointer { w in
                UnsafeRawPointer(w.baseAddress!).withMemoryRebound(to: Float.self, capacity: w.count) { f in
                    switch sgemm ?? Self.fp32Prefill {
                    case .openBLAS:
                        BLAS.gemm(m: m, n: rows, k: columns, a: x, lda: columns, b: f, ldb: columns,
                                  transposeB: true, c: y, ldc: rows)
                    case .oneDNN:
                        OneDNN.sgemm(m: m, n: rows, k: columns, a: x, lda: columns, b: f, ldb: columns, c: y, ldc: rows)
                    }
                }
            }
            return
        }
        if format == .int8, let path = int8 ?? Optional(Self.int8Prefill), path != .dequantized {
            multiplyQuantized(x, m: m, into: y, path: path, bits: (isa ?? .selected).activationBits)
            return
        }
        // Wide products (prefill): each worker widens blocks of its own weight rows to F32 and
        // runs a single-threaded sgemm on them, so the widening is split over the cores too.
        let backend = sgemm ?? Self.fp32Prefill
        let block = max(4, min(rows, (1 << 19) / max(columns, 1)) / 4 * 4)
        WorkerPool.parallelFor(rows, grain: 4, minimumPerWorker: 64) { range in
            Scratch.with(bytes: min(block, range.count) * columns * 4) { raw in
                let sp = raw.bindMemory(to: Float.self, capacity: min(block, range.count) * columns)   // (block, columns)
                var r0 = range.lowerBound
                while r0 < range.upperBound {
                    let nb = min(block, range.upperBound - r0)
                    dequantize(rows: r0..<(r0 + nb), into: sp, isa: isa)
                    switch backend {
                    case .openBLAS:
                        BLAS.gemm(m: m, n: nb, k: columns, a: x, lda: columns, b: sp, ldb: columns,
                                  transposeB: true, c: y + r0, ldc: rows, split: false)
                    case .oneDNN:
                        let status = ck_dnnl_sgemm_nt(m, nb, columns, x, columns, sp, columns, y + r0, rows)
                        precondition(status == 0, "oneDNN sgemm failed with status \(status)")
                    }
                    r0 += nb
                }
            }
        }
    }

    /// The int8 product with dynamically quantised activations: x's rows to u8 (`bits` bits,
    /// in the stored byte order), an exact s32 product per worker's slice of weight rows, then
    /// y = scale_x · scale_w · (acc - zero_x · Σ q_w).
    public func multiplyQuantized(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>,
                                  path: Int8Product, bits: Int) {
        precondition(format == .int8 && path != .dequantized)
        let k = columns, n = rows
        let bytes = (m * k + 63) / 64 * 64 + 2 * ((m * 4 + 63) / 64 * 64) + (m * n * 4 + 63) / 64 * 64
        Scratch.with(bytes: bytes) { raw in
            var offset = 0
            let q = raw.carve(UInt8.self, count: m * k, at: &offset)          // (m, k)
            let aScale = raw.carve(Float.self, count: m, at: &offset)          // (m)
            let aZero = raw.carve(Int32.self, count: m, at: &offset)           // (m)
            let acc = raw.carve(Int32.self, count: m * n, at: &offset)         // (m, n)
            WorkerPool.parallelFor(m, grain: 1, minimumPerWorker: 8) { rr in
                ck_quantize_rows_u8(KernelISA.selected.c, x + rr.lowerBound * k, rr.count, k, Int32(bits), 1, q + rr.lowerBound * k,
                                    aScale + rr.lowerBound, aZero + rr.lowerBound)
            }
            words.withUnsafeBytes { wb in
                let b = wb.baseAddress!.assumingMemoryBound(to: Int8.self)
                WorkerPool.parallelFor(n, grain: 16, minimumPerWorker: 64) { range in
                    let bj = b + range.lowerBound * k, cj = acc + range.lowerBound
                    switch path {
                    case .oneDNN:
                        let status = ck_dnnl_gemm_u8s8s32(m, range.count, k, q, k, bj, k, cj, n)
                        precondition(status == 0, "oneDNN u8s8s32 GEMM failed with status \(status)")
                    case .reference, .dequantized:
                        ck_gemm_u8s8s32_reference(m, range.count, k, q, k, bj, k, cj, n)
                    }
                }
            }
            WorkerPool.parallelFor(m, grain: 1, minimumPerWorker: 8) { rr in
                ck_dequantize_s32(KernelISA.selected.c, acc + rr.lowerBound * n, rr.count, n, n, aScale + rr.lowerBound,
                                  aZero + rr.lowerBound, rowSums, scales, y + rr.lowerBound * n, n)
            }
        }
    }

    /// x (m, k) as unsigned `bits`-bit values with a per-row scale and zero point, columns in
    /// logical order (or, `storedOrder`, in the int8 layout's byte order, as the products read
    /// them): x[r, c] ~= scale[r] * (q[r, c] - zero[r]).
    public static func quantizeActivations(_ x: [Float], m: Int, k: Int, bits: Int, isa: KernelISA? = nil,
                                           storedOrder: Bool = false) -> (q: [UInt8], scale: [Float], zero: [Int32]) {
        precondition(x.count == m * k && (bits == 7 || bits == 8) && (!storedOrder || k % 32 == 0))
        var q = [UInt8](repeating: 0, count: m * k), scale = [Float](repeating: 0, count: m), zero = [Int32](repeating: 0, count: m)
        ck_quantize_rows_u8((isa ?? .selected).c, x, m, k, Int32(bits), storedOrder ? 1 : 0, &q, &scale, &zero)
        return (q, scale, zero)
    }

    /// The few-row int8 product on VNNI: x's rows to 8-bit u8 in the stored byte order (on the
    /// calling thread: m * k values), then each worker's slice of weight rows in s32 and back.
    /// Bit-identical to `multiplyQuantized(path: .reference, bits: 8)`. `only` (tests) computes
    /// just those weight rows, on the calling thread, and leaves y's other columns untouched.
    ///
    /// oneDNN's u8s8s32 GEMM does the same sums (`multiplyQuantized(path: .oneDNN)`), but on the
    /// decode step's 124M weights (`bench-kernels --decode-step`, 2 workers, 3 interleaved runs,
    /// 2026-11-30, AVX-512 VNNI) it took 15.8-19.9 ms a step at m = 8 where this kernel took
    /// 5.4-6.7 ms (m = 16: 19.4-32.9 against 7.0-15.4; m = 4: 14.1-20.2 against 4.7-7.1), so
    /// decode rows stay here.
    func multiplyVNNI(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, only: Range<Int>? = nil) {
        let k = columns
        Scratch.with(bytes: (m * k + 63) / 64 * 64 + 2 * ((m * 4 + 63) / 64 * 64)) { raw in
            var offset = 0
            let q = raw.carve(UInt8.self, count: m * k, at: &offset)   // (m, k) in the stored byte order
            let aScale = raw.carve(Float.self, count: m, at: &offset)   // (m)
            let aZero = raw.carve(Int32.self, count: m, at: &offset)    // (m)
            // On the calling thread before every product: 0.66 µs for 8 x 768 floats (AVX-512).
            ck_quantize_rows_u8(CK_ISA_AVX512, x, m, k, 8, 1, q, aScale, aZero)
            words.withUnsafeBytes { wb in
                let w = wb.baseAddress!.assumingMemoryBound(to: Int8.self)
                if let only {
                    ck_avx512_vnni_int8_product(q, aScale, aZero, m, k, w, rowSums, scales, only.lowerBound, only.upperBound, y, rows)
                    return
                }
                WorkerPool.parallelFor(rows, grain: 4, minimumPerWorker: SkinnyKernels.minimumRowsPerWorker(m: m, k: k)) { range in
                    ck_avx512_vnni_int8_product(q, aScale, aZero, m, k, w, rowSums, scales,
                                                range.lowerBound, range.upperBound, y, rows)
                }
            }
        }
    }

    /// Rows of W as F32 (scales applied) into `out` ((range.count, columns)).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>, isa: KernelISA? = nil) {
        if let nf4 { return nf4.dequantize(rows: range, into: out, isa: isa) }
        if let planes { return planes.dequantize(rows: range, into: out, isa: isa) }
        let layout: ck_layout = switch format {
        case .fp32, .nf4: CK_LAYOUT_F32   // (nf4 returned above)
        case .bf16: CK_LAYOUT_BF16
        case .int8: CK_LAYOUT_INT8
        }
        words.withUnsafeBufferPointer { w in
            scales.withUnsafeBufferPointer { s in
                ck_widen_rows((isa ?? .selected).c, layout, w.baseAddress!, columns, paneled ? 1 : 0,
                              format == .int8 ? s.baseAddress! : nil, range.lowerBound, range.upperBound, out)
            }
        }
    }

    /// Row r as F32, gathered word by word and unpacked by the scalar code: the plain
    /// reference the vector paths are tested against.
    public func referenceRow(_ r: Int) -> [Float] {
        if let nf4 { return nf4.referenceRow(r) }
        if let planes { return planes.referenceRow(r) }
        let k = columns, perRow = Self.wordsPerRow(format, k)
        let src = (0..<perRow).map { words[Self.wordIndex(row: r, word: $0, perRow: perRow, format: format, paneled: paneled)] }
        var row = [Float](repeating: 0, count: k)
        src.withUnsafeBufferPointer { sp in
            row.withUnsafeMutableBufferPointer { dst in
                switch format {
                case .fp32: F32Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                case .bf16: BF16Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                case .int8: Int8Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                case .nf4: break   // returned above
                }
            }
        }
        return format == .int8 ? row.map { $0 * scales[r] } : row
    }
}
