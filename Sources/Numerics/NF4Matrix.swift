import CKernels

/// A Linear weight in QLoRA's 4-bit NormalFloat (NF4), exactly as bitsandbytes stores it with
/// `quantize_4bit(blocksize=64, quant_type="nf4")`: each 64-weight block keeps an fp32 absmax and
/// 64 four-bit indices into the 16-value NF4 table, two per byte, the first in the high nibble.
/// A weight is `code[q] * absmax`, bit for bit what `dequantize_4bit` returns (proven against
/// bitsandbytes itself in NF4Tests). The absmax stays fp32: QLoRA's double quantisation (the
/// absmax values quantised again to 8 bits, 0.127 bits/weight saved) is not done, so a weight
/// costs 4.5 bits: 0.5625 bytes against int8's 1 (plus its per-row scale).
///
/// Decode (few activation rows) streams the nibbles through `ck_nf4_product`, which looks codes
/// up in registers; prefill widens blocks of rows to F32 and runs an sgemm. Adapters are not
/// touched: their products stay F32 on top of this, as QLoRA's are at inference.
public final class NF4Matrix: @unchecked Sendable {
    /// Weights per absmax block (bitsandbytes' default for quantize_4bit, and QLoRA's).
    public static let blockSize = 64
    /// The 16 NF4 values, ascending (bitsandbytes' table; index 7 is exactly 0).
    public static let code: [Float] = withUnsafeBytes(of: ck_nf4_code) { Array($0.bindMemory(to: Float.self)) }

    public let rows: Int      // out_features
    public let columns: Int   // in_features, a multiple of blockSize
    /// (rows, columns / 2): bitsandbytes' packed bytes of the row-major weight.
    public let packed: [UInt8]
    /// (rows, columns / blockSize): each block's max |w|.
    public let absmax: [Float]

    public static func fits(_ columns: Int) -> Bool { columns > 0 && columns % blockSize == 0 }

    /// Quantises `values` (rows, columns) with bitsandbytes' rule (CKernels.h,
    /// ck_nf4_quantize_rows).
    public init(values: [Float], rows: Int, columns: Int) {
        precondition(Self.fits(columns), "NF4 rows must be a multiple of \(Self.blockSize) weights, got \(columns)")
        precondition(values.count == rows * columns)
        self.rows = rows; self.columns = columns
        var packed = [UInt8](repeating: 0, count: rows * columns / 2)
        var absmax = [Float](repeating: 0, count: rows * columns / Self.blockSize)
        values.withUnsafeBufferPointer { v in
            packed.withUnsafeMutableBufferPointer { p in
                absmax.withUnsafeMutableBufferPointer { a in
                    // Row slices are independent: loading the full-size model quantises 250M weights.
                    WorkerPool.parallelFor(rows, grain: 1, minimumPerWorker: 16) { range in
                        ck_nf4_quantize_rows(v.baseAddress! + range.lowerBound * columns, range.count, columns,
                                             p.baseAddress! + range.lowerBound * columns / 2,
                                             a.baseAddress! + range.lowerBound * columns / Self.blockSize)
                    }
                }
            }
        }
        self.packed = packed
        self.absmax = absmax
    }

    /// Bytes the weights occupy (nibbles and absmax).
    public var bytes: Int { packed.count + absmax.count * 4 }

    /// y (m, rows) = x (m, columns) · W^T. Up to `skinnyRows` activation rows stream the 4-bit
    /// weights (decode); more widen blocks of weight rows to F32 for `sgemm` (prefill). `isa`
    /// picks the kernel variant (nil: the selected one).
    public func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA? = nil,
                         sgemm: WeightMatrix.SGEMMBackend, skinnyRows: Int = WeightMatrix.skinnyRowLimit) {
        guard m > 0 else { return }
        let k = columns, n = rows, variant = (isa ?? .selected).c
        // Both paths read x with each 64-column block as its 32 even then 32 odd columns: the
        // order of the high and low nibbles, and for the sgemm the order the rows widen to.
        var xp = [Float](repeating: 0, count: m * k)   // (m, k), permuted
        ck_nf4_permute_activations(x, m, k, &xp)
        xp.withUnsafeBufferPointer { xpb in
            let xs = xpb.baseAddress!
            packed.withUnsafeBufferPointer { p in
                absmax.withUnsafeBufferPointer { a in
                    if m <= skinnyRows {
                        let minimumRows = max(32, (1 << 16) / max(1, m * k))
                        WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: minimumRows) { range in
                            ck_nf4_product(variant, xs, m, k, p.baseAddress!, a.baseAddress!,
                                           range.lowerBound, range.upperBound, y, n)
                        }
                        return
                    }
                    // Each worker widens blocks of its own rows (~2 MiB of F32 at a time) and runs
                    // a single-threaded sgemm on them.
                    let block = max(4, min(n, (1 << 19) / k) / 4 * 4)
                    WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: 64) { range in
                        var scratch = [Float](repeating: 0, count: min(block, range.count) * k)   // (block, k), permuted
                        scratch.withUnsafeMutableBufferPointer { sp in
                            var r0 = range.lowerBound
                            while r0 < range.upperBound {
                                let nb = min(block, range.upperBound - r0)
                                ck_nf4_widen_rows(variant, p.baseAddress!, a.baseAddress!, k, r0, r0 + nb, 1, sp.baseAddress!)
                                switch sgemm {
                                case .openBLAS:
                                    BLAS.gemm(m: m, n: nb, k: k, a: xs, lda: k, b: sp.baseAddress!, ldb: k,
                                              transposeB: true, c: y + r0, ldc: n, split: false)
                                case .oneDNN:
                                    let status = ck_dnnl_sgemm_nt(m, nb, k, xs, k, sp.baseAddress!, k, y + r0, n)
                                    precondition(status == 0, "oneDNN sgemm failed with status \(status)")
                                }
                                r0 += nb
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rows of W as F32 in logical column order into `out` ((range.count, columns)).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>, isa: KernelISA? = nil) {
        packed.withUnsafeBufferPointer { p in
            absmax.withUnsafeBufferPointer { a in
                ck_nf4_widen_rows((isa ?? .selected).c, p.baseAddress!, a.baseAddress!, columns,
                                  range.lowerBound, range.upperBound, 0, out)
            }
        }
    }

    /// Row r as F32 by the plain definition (code[q] * absmax, nibble by nibble): the reference
    /// the kernels are tested against.
    public func referenceRow(_ r: Int) -> [Float] {
        (0..<columns).map { c in
            let byte = packed[(r * columns + c) / 2]
            let q = c % 2 == 0 ? byte >> 4 : byte & 15
            return Self.code[Int(q)] * absmax[(r * columns + c) / Self.blockSize]
        }
    }
}
