import CKernels

/// The door to oneDNN's fp32 GEMM for prefill products. oneDNN runs on OpenMP; each call here
/// runs on one thread of our own WorkerPool (its OpenMP team set to 1), so no OpenMP thread is
/// left spinning on a core the decoder needs, and the split over cores is ours, as in `BLAS`.
public enum OneDNN {
    /// C (m, n) = A (m, k) · B^T, B stored (n, k) (a Linear weight), row-major.
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0, k > 0 else { return }
        let split = WorkerPool.workers > 1 && n >= 128 && m * n * k >= 1 << 22
        WorkerPool.parallelFor(n, grain: 16, minimumPerWorker: split ? 64 : n) { cols in
            let status = ck_dnnl_sgemm_nt(m, cols.count, k, a, lda, b + cols.lowerBound * ldb, ldb, c + cols.lowerBound, ldc)
            precondition(status == 0, "oneDNN sgemm failed with status \(status)")
        }
    }
}

extension OneDNN {
    /// C (m, n) = A (m, k) · op(B) on the calling thread only (B stored (n, k) when transposeB,
    /// else (k, n)), row-major with leading dimensions: for products too small to split, run
    /// as one unit of a parallelFor (an attention head).
    public static func sgemmOnThisThread(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                         b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                                         c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0, k > 0 else { return }
        let status = transposeB ? ck_dnnl_sgemm_nt(m, n, k, a, lda, b, ldb, c, ldc)
                                : ck_dnnl_sgemm_nn(m, n, k, a, lda, b, ldb, c, ldc)
        precondition(status == 0, "oneDNN sgemm failed with status \(status)")
    }

    /// c (m, n) = a (m, k, u8) · b (n, k, s8)^T in s32, split over the workers by rows of b
    /// as the int8 prefill does it (for benchmarks: the bare GEMM without quantisation).
    public static func gemmU8S8S32(m: Int, n: Int, k: Int, a: UnsafePointer<UInt8>, b: UnsafePointer<Int8>,
                                   c: UnsafeMutablePointer<Int32>) {
        WorkerPool.parallelFor(n, grain: 16, minimumPerWorker: 64) { range in
            let status = ck_dnnl_gemm_u8s8s32(m, range.count, k, a, k, b + range.lowerBound * k, k, c + range.lowerBound, n)
            precondition(status == 0, "oneDNN u8s8s32 GEMM failed with status \(status)")
        }
    }
}
