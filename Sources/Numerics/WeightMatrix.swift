import Foundation

/// How the frozen base's weights are held in memory. Computation is always F32; BF16 (FLAN-T5's
/// training precision) halves and INT8 (per-output-row scales) quarters the bytes each decoder
/// step has to stream from memory, which is what bounds decoding speed.
public enum WeightFormat: String, Sendable, CaseIterable {
    case fp32, bf16, int8
}

/// A Linear layer's weight (out_features, in_features), stored in a `WeightFormat`.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int       // out_features
    public let columns: Int    // in_features
    /// The format actually used: a matrix whose width does not fit the packed layout stays F32.
    public let format: WeightFormat
    private let words: [UInt32]   // (rows, wordsPerRow) in the format's PackedLayout
    private let scales: [Float]   // (rows) for int8
    /// bf16/int8 rows are stored in block-interleaved panels of 4 (see SkinnyKernels); fp32 stays
    /// plain row-major so OpenBLAS can read it directly for prefill.
    private let paneled: Bool
    /// Activation rows up to which the streaming kernel beats OpenBLAS (which packs the
    /// whole weight matrix per call); measured on the 2-core EPYC.
    public static let skinnyRowLimit = 16

    public init(values: [Float], rows: Int, columns: Int, format requested: WeightFormat = .fp32) {
        precondition(values.count == rows * columns)
        self.rows = rows; self.columns = columns
        let format: WeightFormat = switch requested {
        case .bf16 where BF16Layout.fits(columns): .bf16
        case .int8 where Int8Layout.fits(columns): .int8
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
        let perRow = Self.wordsPerRow(format, columns)
        let paneled = format != .fp32 && rows % 4 == 0
        var words = [UInt32](repeating: 0, count: rows * perRow)
        var rowWords = [UInt32](repeating: 0, count: perRow)
        values.withUnsafeBufferPointer { v in
            words.withUnsafeMutableBufferPointer { w in
                rowWords.withUnsafeMutableBufferPointer { tmp in
                    for r in 0..<rows {
                        let row = v.baseAddress! + r * columns
                        switch format {
                        case .fp32: F32Layout.pack(row, columns, scale: 1, into: tmp.baseAddress!)
                        case .bf16: BF16Layout.pack(row, columns, scale: 1, into: tmp.baseAddress!)
                        case .int8: Int8Layout.pack(row, columns, scale: scales[r], into: tmp.baseAddress!)
                        }
                        for word in 0..<perRow { w[Self.wordIndex(row: r, word: word, perRow: perRow, format: format, paneled: paneled)] = tmp[word] }
                    }
                }
            }
        }
        self.words = words
        self.scales = scales
        self.paneled = paneled
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

    public convenience init(_ tensor: Tensor, format: WeightFormat = .fp32) {
        precondition(tensor.shape.count == 2)
        self.init(values: tensor.storage, rows: tensor.shape[0], columns: tensor.shape[1], format: format)
    }

    static func wordsPerRow(_ format: WeightFormat, _ k: Int) -> Int {
        switch format {
        case .fp32: k
        case .bf16: BF16Layout.wordsPerRow(k)
        case .int8: Int8Layout.wordsPerRow(k)
        }
    }

    /// Bytes the weights occupy.
    public var bytes: Int { words.count * 4 + scales.count * 4 }

    /// y (m, rows) = x (m, columns) · W^T.
    public func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        if m <= Self.skinnyRowLimit && (format != .fp32 || F32Layout.fits(columns)) {
            words.withUnsafeBufferPointer { w in
                let wp = w.baseAddress!
                switch format {
                case .fp32: SkinnyKernels.multiply(F32Layout.self, x: x, m: m, k: columns, w: wp, n: rows, y: y, ldy: rows)
                case .bf16: SkinnyKernels.multiply(BF16Layout.self, x: x, m: m, k: columns, w: wp, n: rows, paneled: paneled, y: y, ldy: rows)
                case .int8:
                    scales.withUnsafeBufferPointer { s in
                        SkinnyKernels.multiply(Int8Layout.self, x: x, m: m, k: columns, w: wp, n: rows, paneled: paneled,
                                               rowScale: s.baseAddress!, y: y, ldy: rows)
                    }
                }
            }
            return
        }
        if format == .fp32 {
            words.withUnsafeBufferPointer { w in
                UnsafeRawPointer(w.baseAddress!).withMemoryRebound(to: Float.self, capacity: w.count) { f in
                    BLAS.gemm(m: m, n: rows, k: columns, a: x, lda: columns, b: f, ldb: columns,
                              transposeB: true, c: y, ldc: rows)
                }
            }
            return
        }
        // Wide products (prefill): each worker widens blocks of its own weight rows to F32 and
        // runs single-threaded OpenBLAS on them, so the widening is split over the cores too.
        let block = max(4, min(rows, (1 << 19) / max(columns, 1)) / 4 * 4)
        WorkerPool.parallelFor(rows, grain: 4, minimumPerWorker: 64) { range in
            var scratch = [Float](repeating: 0, count: min(block, range.count) * columns)   // (block, columns)
            scratch.withUnsafeMutableBufferPointer { sp in
                var r0 = range.lowerBound
                while r0 < range.upperBound {
                    let nb = min(block, range.upperBound - r0)
                    dequantize(rows: r0..<(r0 + nb), into: sp.baseAddress!)
                    BLAS.gemm(m: m, n: nb, k: columns, a: x, lda: columns, b: sp.baseAddress!, ldb: columns,
                              transposeB: true, c: y + r0, ldc: rows, split: false)
                    r0 += nb
                }
            }
        }
    }

    /// Rows of W as F32 (scales applied) into `out` ((range.count, columns)).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        switch format {
        case .fp32: widen(F32Layout.self, rows: range, into: out)
        case .bf16: widen(BF16Layout.self, rows: range, into: out)
        case .int8: widen(Int8Layout.self, rows: range, into: out)
        }
    }

    /// Vector widening, block by block, for the prefill path (a scalar unpack of every word
    /// costs as much as the product itself).
    private func widen<L: PackedLayout>(_: L.Type, rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let k = columns, perRow = L.wordsPerRow(k)
        let rowStride = paneled ? L.wordsPerBlock : perRow
        let blockStride = paneled ? 4 * L.wordsPerBlock : L.wordsPerBlock
        words.withUnsafeBufferPointer { w in
            scales.withUnsafeBufferPointer { s in
                for (i, r) in range.enumerated() {
                    let start = paneled ? (r / 4) * 4 * perRow + (r % 4) * rowStride : r * perRow
                    let src = w.baseAddress! + start, dst = out + i * k
                    let scale = SIMD8<Float>(repeating: format == .int8 ? s[r] : 1)
                    var c = 0, word = 0
                    while c < k {
                        for p in 0..<L.parts {
                            UnsafeMutableRawPointer(dst + c + 8 * p).storeBytes(of: L.widen(src + word, p) * scale, as: SIMD8<Float>.self)
                        }
                        c += L.block
                        word += blockStride
                    }
                }
            }
        }
    }

    /// Row r as F32, gathered word by word and unpacked by the scalar code: the plain
    /// reference the vector paths are tested against.
    public func referenceRow(_ r: Int) -> [Float] {
        let k = columns, perRow = Self.wordsPerRow(format, k)
        let src = (0..<perRow).map { words[Self.wordIndex(row: r, word: $0, perRow: perRow, format: format, paneled: paneled)] }
        var row = [Float](repeating: 0, count: k)
        src.withUnsafeBufferPointer { sp in
            row.withUnsafeMutableBufferPointer { dst in
                switch format {
                case .fp32: F32Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                case .bf16: BF16Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                case .int8: Int8Layout.unpack(sp.baseAddress!, k, into: dst.baseAddress!)
                }
            }
        }
        return format == .int8 ? row.map { $0 * scales[r] } : row
    }
}
