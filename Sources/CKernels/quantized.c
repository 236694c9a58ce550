// Dynamically quantised int8 products: activation quantisation, the plain reference GEMM, the
// rescale, and the shim to oneDNN.
#include "CKernels.h"
#include <math.h>
#include <oneapi/dnnl/dnnl.h>

void ck_quantize_rows_u8(const float *x, long m, long k, int bits, int permute32, uint8_t *q, float *scale,
                         int32_t *zero) {
    const float qmax = (float)((1 << bits) - 1);
    for (long r = 0; r < m; r++) {
        const float *xr = x + r * k;
        uint8_t *qr = q + r * k;
        // The range always holds 0, so zero padding and ReLU zeros quantise exactly.
        float lo = 0, hi = 0;
        for (long c = 0; c < k; c++) { lo = fminf(lo, xr[c]); hi = fmaxf(hi, xr[c]); }
        float s = (hi - lo) / qmax;
        if (!(s > 0)) s = 1;
        const float inv = 1 / s;
        const int32_t z = (int32_t)lrintf(-lo * inv);
        for (long c = 0; c < k; c++) {
            float v = rintf(xr[c] * inv) + (float)z;
            v = fminf(fmaxf(v, 0), qmax);
            long at = permute32 ? (c & ~31L) + 4 * (c % 8) + (c % 32) / 8 : c;
            qr[at] = (uint8_t)v;
        }
        scale[r] = s;
        zero[r] = z;
    }
}

void ck_gemm_u8s8s32_reference(long m, long n, long k, const uint8_t *a, long lda, const int8_t *b, long ldb,
                               int32_t *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            int32_t s = 0;
            for (long t = 0; t < k; t++) s += (int32_t)a[i * lda + t] * (int32_t)b[j * ldb + t];
            c[i * ldc + j] = s;
        }
}

void ck_dequantize_s32(const int32_t *c, long m, long n, long ldc, const float *a_scale, const int32_t *a_zero,
                       const int32_t *w_sum, const float *w_scale, float *y, long ldy) {
    for (long i = 0; i < m; i++) {
        const float sa = a_scale[i];
        const int32_t z = a_zero[i];
        for (long j = 0; j < n; j++) y[i * ldy + j] = sa * w_scale[j] * (float)(c[i * ldc + j] - z * w_sum[j]);
    }
}

/// libgomp's per-thread team size; our workers each run one single-threaded oneDNN call.
extern void omp_set_num_threads(int);

int ck_dnnl_gemm_u8s8s32(long m, long n, long k, const uint8_t *a, long lda, const int8_t *b, long ldb,
                         int32_t *c, long ldc) {
    omp_set_num_threads(1);
    const int32_t co = 0;
    // Row-major C = A . B with B given transposed: B is the weight (n, k).
    dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, lda, 0, b, ldb, 0, 0.0f, c, ldc, &co);
    return st == dnnl_success ? 0 : (int)st;
}

int ck_dnnl_sgemm_nt(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    omp_set_num_threads(1);
    dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    return st == dnnl_success ? 0 : (int)st;
}
