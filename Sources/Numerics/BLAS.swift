import CBLAS

/// The only door to OpenBLAS: every matrix product in the engine goes through here, so the
/// thread policy and the choice between BLAS and our own skinny kernels live in one place.
public enum BLAS {
    /// OpenBLAS spawns its own pool; the engine calls it from one thread at a time and sets the
    /// count deliberately (all cores for big prefill products).
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C (m, n) = alpha * A (m, k) · op(B) + beta * C, row-major, with leading dimensions so
    /// that per-head slices of (tokens, heads * d_kv) buffers can be used in place.
    /// `transposeB` true means B is stored (n, k), as every Linear weight is.
    @inlinable
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float = 1, beta: Float = 0, split: Bool = true) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // Big products: our workers each run single-threaded OpenBLAS on a slice of B's columns,
        // so no OpenBLAS thread is left spinning (sched_yield) on a core the decoder needs.
        if split && WorkerPool.workers > 1 && n >= 128 && m * n * k >= 1 << 22 {
            WorkerPool.parallelFor(n, grain: 16, minimumPerWorker: 64) { cols in
                let bSlice = transposeB ? b + cols.lowerBound * ldb : b + cols.lowerBound
                cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(cols.count), Int32(k), alpha, a, Int32(lda), bSlice, Int32(ldb),
                            beta, c + cols.lowerBound, Int32(ldc))
            }
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// y (n) = W (n, k) · x (k) + beta * y: one row through a Linear layer.
    @inlinable
    public static func gemv(n: Int, k: Int, w: UnsafePointer<Float>, x: UnsafePointer<Float>,
                            y: UnsafeMutablePointer<Float>, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, w, Int32(k), x, 1, beta, y, 1)
    }
}
