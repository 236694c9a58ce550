import CKernels

/// A Linear weight in QLoRA's 4-bit NormalFloat (NF4), exactly as bitsandbytes stores it with
/// `quantize_4bit(blocksize=64, quant_type="nf4")`: each 64-weight block keeps an fp32 absmax and
/// 64 four-bit indices into the 16-value NF4 table, two per byte, the first in the high nibble.
/// A weight is `code[q] * absmax`, bit for bit what `dequantize_4bit` returns (proven against
/// bitsandbytes itself in NF4Tests). The absmax stays fp32: QLoRA's double quantisation (the
/// absmax values quantised again to 8 bits, 0.127 bits/weight saved) is not done, so a weight
/// costs 4.5 bits: 0.5625 bytes against int8's 1 (plus its per-row scale).
///
/// Decode (few activation rows) streams the nibbles: on AVX-512 BF16 in QLoRA's bf16 compute
/// dtype (`ck_avx512_nf4_product_bf16`: weights bf16(code * absmax), activations bf16, fp32
/// sums), elsewhere, or with `bf16: false`, through the exact fp32 kernels (`ck_nf4_product`).
/// Prefill widens blocks of rows to F32 and runs an sgemm. Adapters are not touched: their
/// products stay F32 on top of this, as QLoRA's are at inference.
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

    /// Whether this CPU runs the bf16 decode kernel (AVX-512 with AVX512_BF16).
    public static let bf16Available = ck_nf4_bf16_supported() != 0
    /// Few-row products run in bf16 where the selected variant is avx512 and the CPU has
    /// AVX512_BF16: the fp32 kernels spend ~16 instructions per 64 weights at one row and could
    /// not stream the nibbles at memory speed (README, NF4). Each weight and activation then
    /// carries a bf16 rounding (relative error <= 2^-8); false keeps the exact fp32 products.
    nonisolated(unsafe) public static var decodeInBF16 = true

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
    /// weights (decode): in bf16 when `bf16` (default `decodeInBF16`) and the CPU allows it
    /// under the avx512 variant, else exactly. More rows widen blocks of weight rows to F32 for
    /// `sgemm` (prefill). `isa` picks the kernel variant (nil: the selected one).
    public func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA? = nil,
                         sgemm: WeightMatrix.SGEMMBackend, skinnyRows: Int = WeightMatrix.skinnyRowLimit, bf16: Bool? = nil) {
        guard m > 0 else { return }
        let k = columns, n = rows, variant = isa ?? .selected
        let minimumRows = SkinnyKernels.minimumRowsPerWorker(m: m, k: k)
        if m <= skinnyRows && (bf16 ?? Self.decodeInBF16) && variant == .avx512 && Self.bf16Available {
            Scratch.with(bytes: m * k * 2) { raw in
                let xb = raw.bindMemory(to: UInt16.self, capacity: m * k)   // (m, k) bf16, permuted
                ck_nf4_permute_activations_bf16(x, m, k, xb)
                packed.withUnsafeBufferPointer { p in
                    absmax.withUnsafeBufferPointer { a in
                        WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: minimumRows) { range in
                            ck_avx512_nf4_product_bf16(xb, m, k, p.baseAddress!, a.baseAddress!,
                                                       range.lowerBound, range.upperBound, y, n)
                        }
                    }
                }
            }
            return
        }
        // Both paths read x with each 64-column block as its 32 even then 32 odd columns: the
        // order of the high and low nibbles, and for the sgemm the order the rows widen to.
        Scratch.with(bytes: m * k * 4) { raw in
            let xs = raw.bindMemory(to: Float.self, capacity: m * k)   // (m, k), permuted
            ck_nf4_permute_activations(x, m, k, xs)
            packed.withUnsafeBufferPointer { p in
                absmax.withUnsafeBufferPointer { a in
                    if m <= skinnyRows {
                        WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: minimumRows) { range in
                            ck_nf4_product(variant.c, xs, m, k, p.baseAddress!, a.baseAddress!,
                                           range.lowerBound, range.upperBound, y, n)
                        }
                        return
                    }
                    // Each worker widens blocks of its own rows (~2 MiB of F32 at a time) and runs
                    // a single-threaded sgemm on them.
                    let block = max(4, min(n, (1 << 19) / k) / 4 * 4)
                    WorkerPool.parallelFor(n, grain: 4, minimumPerWorker: 64) { range in
                        Scratch.with(bytes: min(block, range.count) * k * 4) { sraw in
                            let sp = sraw.bindMemory(to: Float.self, capacity: min(block, range.count) * k)   // (block, k), permuted
                            var r0 = range.lowerBound
                            while r0 < range.upperBound {
                                let nb = min(block, range.upperBound - r0)
                                ck_nf4_widen_rows(variant.c, p.baseAddress!, a.baseAddress!, k, r0, r0 + nb, 1, sp)
                                switch sgemm {
                                case .openBLAS:
                                    BLAS.gemm(m: m, n: nb, k: k, a: xs, lda: k, b: sp, ldb: k,
                                              transposeB: true, c: y + r0, ldc: n, split: false)
                                case .oneDNN:
                                    let status = ck_dnnl_sgemm_nt(m, nb, k, xs, k, sp, k, y + r0, n)
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
