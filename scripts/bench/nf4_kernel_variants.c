// Standalone timing of NF4 decode-kernel choices at one activation row (issue 15), for the
// README's "why bf16 and not integers": the shipped fp32 and bf16 kernels (linked from
// Sources/CKernels) against an integer prototype kept here only for this comparison (codes as
// round(127 * code) + 128 by a 16-byte vpshufb table, activations to s8 symmetric, vpdpbusd,
// per-block absmax applied to the s32 sums of two blocks with one FMA). Needs AVX-512 BF16 and
// VNNI. One step's worth of weights (ROWS x 768, default 160000 rows = 123M weights) is timed
// from memory on 1 and 2 threads; a small matrix (4000 rows) repeats from cache.
// Build and run (from the repository root):
//   clang -O3 -march=native -pthread -I Sources/CKernels/include scripts/bench/nf4_kernel_variants.c \
//     Sources/CKernels/nf4_bf16.c Sources/CKernels/nf4_avx512.c Sources/CKernels/nf4_baseline.c \
//     Sources/CKernels/cpu.c -lm -o /tmp/nf4_kernel_variants && /tmp/nf4_kernel_variants [ROWS] [REPEATS]
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define K 768

/// The shipped AVX-512 fp32 kernel (nf4_avx512.c), called directly (no dispatch table linked).
void ck_avx512_nf4_product(const float *xp, long m, long k, const uint8_t *packed, const float *absmax, long j0,
                           long j1, float *y, long ldy);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/// The integer prototype. xq: per 128 columns, 64 s8 activations meeting the high nibbles of the
/// 64 packed bytes (columns 2i) then 64 meeting the low ones (2i + 1); corr: per 128 columns, 16
/// s32 lanes of -128 * (their 8 activations), undoing the +128 that makes the weights u8; y is
/// then scaled by the activation scale / 127.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void int8_product(const int8_t *xq, const int32_t *corr, float scale, long k, const uint8_t *packed,
                         const float *absmax, long j0, long j1, float *y) {
    uint8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = (uint8_t)(lrintf(127 * ck_nf4_code[i]) + 128);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t)), low = _mm512_set1_epi8(15);
    const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (long j = j0; j < j1; j++) {
        const uint8_t *p = packed + j * (k / 2);
        const float *am = absmax + j * (k / 64);
        __m512 acc = _mm512_setzero_ps();
        for (long b = 0; b < k / 128; b++) {   // two blocks: lanes 0-7 block 2b, 8-15 block 2b + 1
            const __m512i v = _mm512_loadu_si512(p + b * 64);
            __m512i s = _mm512_loadu_si512(corr + b * 16);
            s = _mm512_dpbusd_epi32(s, _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low)),
                                    _mm512_loadu_si512(xq + b * 128));
            s = _mm512_dpbusd_epi32(s, _mm512_shuffle_epi8(table, _mm512_and_si512(v, low)), _mm512_loadu_si512(xq + b * 128 + 64));
            const __m512 a = _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(_mm_castpd_ps(_mm_load_sd((const double *)(am + 2 * b)))));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), a, acc);
        }
        y[j] = _mm512_reduce_add_ps(acc) * scale;
    }
}

typedef struct {
    int variant;
    long j0, j1;
    const float *xp; const uint16_t *xb; const int8_t *xq; const int32_t *corr; float scale;
    const uint8_t *packed; const float *absmax; float *y;
} job;

static void *run(void *arg) {
    const job *t = arg;
    if (t->variant == 0) ck_avx512_nf4_product(t->xp, 1, K, t->packed, t->absmax, t->j0, t->j1, t->y, 1);
    else if (t->variant == 1) ck_avx512_nf4_product_bf16(t->xb, 1, K, t->packed, t->absmax, t->j0, t->j1, t->y, 1);
    else int8_product(t->xq, t->corr, t->scale, K, t->packed, t->absmax, t->j0, t->j1, t->y);
    return NULL;
}

int main(int argc, char **argv) {
    if (!ck_nf4_bf16_supported() || !ck_detect_cpu_features().avx512_vnni) { fprintf(stderr, "needs AVX-512 BF16 and VNNI\n"); return 1; }
    const long big = argc > 1 ? atol(argv[1]) : 160000;
    const int repeats = argc > 2 ? atoi(argv[2]) : 8;
    uint8_t *packed = aligned_alloc(64, big * K / 2);                 // (big, K / 2)
    float *absmax = aligned_alloc(64, big * (K / 64) * sizeof(float)); // (big, K / 64)
    srand(1);
    for (long i = 0; i < big * K / 2; i++) packed[i] = (uint8_t)rand();
    for (long i = 0; i < big * (K / 64); i++) absmax[i] = 0.01f + (rand() % 1000) * 1e-4f;
    float x[K], xp[K], mx = 0;
    for (int i = 0; i < K; i++) { x[i] = (rand() % 2001 - 1000) * 1e-3f; mx = fmaxf(mx, fabsf(x[i])); }
    ck_nf4_permute_activations(x, 1, K, xp);
    uint16_t xb[K];
    ck_nf4_permute_activations_bf16(x, 1, K, xb);
    int8_t xq[K]; int32_t corr[K / 128 * 16];
    for (int b = 0; b < K / 128; b++) {
        for (int i = 0; i < 64; i++) {
            xq[b * 128 + i] = (int8_t)lrintf(x[b * 128 + 2 * i] * 127 / mx);
            xq[b * 128 + 64 + i] = (int8_t)lrintf(x[b * 128 + 2 * i + 1] * 127 / mx);
        }
        for (int l = 0; l < 16; l++) {
            int s = 0;
            for (int q = 0; q < 4; q++) s += xq[b * 128 + 4 * l + q] + xq[b * 128 + 64 + 4 * l + q];
            corr[b * 16 + l] = -128 * s;
        }
    }
    float *y[3];
    for (int v = 0; v < 3; v++) y[v] = malloc(big * sizeof(float));
    const char *names[3] = {"fp32 (shipped, exact)", "bf16 (shipped)", "int8 prototype"};
    const struct { const char *what; long rows; int threads; } cases[] = {
        {"from cache, 1 thread", 4000, 1}, {"from memory, 1 thread", big, 1}, {"from memory, 2 threads", big, 2}};
    for (int c = 0; c < 3; c++) {
        double best[3] = {1e9, 1e9, 1e9};
        const int reps = cases[c].rows < big ? repeats * 25 : repeats;
        for (int r = 0; r < reps; r++)
            for (int v = 0; v < 3; v++) {   // interleaved, best of the repeats
                job jobs[2]; pthread_t threads[2];
                const long n = cases[c].rows, T = cases[c].threads;
                double t = now();
                for (long i = 0; i < T; i++) {
                    jobs[i] = (job){v, i * n / T, (i + 1) * n / T, xp, xb, xq, corr, mx / 127 / 127, packed, absmax, y[v]};
                    if (T > 1) pthread_create(&threads[i], NULL, run, &jobs[i]); else run(&jobs[i]);
                }
                for (long i = 0; T > 1 && i < T; i++) pthread_join(threads[i], NULL);
                t = now() - t;
                if (t < best[v]) best[v] = t;
            }
        printf("%s (%ld rows of %d):\n", cases[c].what, cases[c].rows, K);
        for (int v = 0; v < 3; v++)
            printf("  %-22s %8.3f ms  %6.1f GB/s of nibbles and absmax\n", names[v], best[v] * 1e3,
                   cases[c].rows * K * 0.5625 / best[v] / 1e9);
    }
    // The variants' results against the exact kernel's, relative to the largest |y|.
    double ymax = 0, e[3] = {0, 0, 0};
    for (long j = 0; j < big; j++) {
        ymax = fmax(ymax, fabs(y[0][j]));
        for (int v = 1; v < 3; v++) e[v] = fmax(e[v], fabs(y[v][j] - y[0][j]));
    }
    printf("max |y - exact| / max |y|: bf16 %.2e, int8 prototype %.2e\n", e[1] / ymax, e[2] / ymax);
    return 0;
}
