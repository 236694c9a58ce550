// Dynamically quantised int8 products: the plain reference GEMM and the shim to oneDNN (the
// quantisation and rescale are per-ISA, in skinny_template.h).
#include "CKernels.h"
#include <oneapi/dnnl/dnnl.h>

void ck_gemm_u8s8s32_reference(long m, long n, long k, const uint8_t *a, long lda, const int8_t *b, long ldb,
                               int32_t *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            int32_t s = 0;
            for (long t = 0; t < k; t++) s += (int32_t)a[i * lda + t] * (int32_t)b[j * ldb + t];
            c[i * ldc + j] = s;
        }
}

/// libgomp's per-thread team size; our workers each run one single-threaded oneDNN call.
extern void omp_set_num_threads(int);

#include <pthread.h>
static pthread_once_t isa_cap_once = PTHREAD_ONCE_INIT;

/// oneDNN dispatches on cpuid by itself; when ADAPTER_SERVE_ISA forces a lower variant, it is
/// capped to match (before its first use, as it requires), so a forced run behaves as that
/// machine would, including oneDNN's non-VNNI u8s8 kernels whose 16-bit pair sums saturate.
static void cap_isa(void) {
    switch (ck_selected_isa()) {
    case CK_ISA_BASELINE: dnnl_set_max_cpu_isa(dnnl_cpu_isa_sse41); break;
    case CK_ISA_AVX2: dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2); break;
    case CK_ISA_AVX512: break;
    }
}

int ck_dnnl_gemm_u8s8s32(long m, long n, long k, const uint8_t *a, long lda, const int8_t *b, long ldb,
                         int32_t *c, long ldc) {
    pthread_once(&isa_cap_once, cap_isa);
    omp_set_num_threads(1);
    const int32_t co = 0;
    // Row-major C = A . B with B given transposed: B is the weight (n, k).
    dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, lda, 0, b, ldb, 0, 0.0f, c, ldc, &co);
    return st == dnnl_success ? 0 : (int)st;
}

int ck_dnnl_sgemm_nt(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    pthread_once(&isa_cap_once, cap_isa);
    omp_set_num_threads(1);
    dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    return st == dnnl_success ? 0 : (int)st;
}

int ck_dnnl_sgemm_nn(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    pthread_once(&isa_cap_once, cap_isa);
    omp_set_num_threads(1);
    dnnl_status_t st = dnnl_sgemm('N', 'N', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    return st == dnnl_success ? 0 : (int)st;
}
