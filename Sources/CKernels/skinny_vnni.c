// The int8 decode product on AVX-512 VNNI: activation rows quantised to u8 (as for prefill, in
// the stored byte order) meet the s8 weights in vpdpbusd, 64 multiply-adds per instruction into
// exact s32 sums, instead of widening every weight to F32 for a float FMA.
//
// Register blocking: a block of 4 weight rows meets up to 4 activation rows at once in 16 zmm
// accumulators, so each 64-byte load (of a weight row or of an activation row) feeds 4
// vpdpbusd instead of 1, and the 16 sums leave the registers through one transpose-and-add
// (each of the 16 vectors' lanes summed into one lane of a single vector) instead of 16
// horizontal reductions. Every AVX-512 instruction stays inside the ck_avx512_* symbols (the
// helpers are always_inline), which scripts/checks/baseline-isa.sh checks.
#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

/// Weight rows per block and the most activation rows a block meets at once (16 accumulators).
enum { WR = 4, XR = 4 };
/// How far ahead (bytes) the first pass over a block prefetches the weights, which are read from
/// DRAM once per step. Measured single-threaded over the 124M weights of a decode step at m = 8
/// (tools: a C harness timing this kernel, medians of 9): no prefetch 8.4-8.9 ms, 1 KiB 7.3-7.8,
/// 4 KiB 5.3, 8 KiB 4.2-4.6, 16 KiB 4.6-5.1, 32 KiB 6.0-6.5 ms; NTA (not kept in L2: each
/// weight is used by one block only) and T0 hints within noise of each other at 4 KiB. Checked
/// on the decode step with 2 workers (bench-kernels --decode-step, m = 8, two runs each): none
/// 5.9 and 10.0 ms, 4 KiB 4.4 and 6.7, 8 KiB 5.5 and 5.5, 16 KiB 5.6 and 6.2, 8 KiB as T1 6.5 and 6.4.
enum { PREFETCH_AHEAD = 8192 };

/// Lane-pair sums: per 128-bit lane, [a0+a2, b0+b2, a1+a3, b1+b3].
INLINE VNNI __m512i pair32(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}
/// pair32(a, b) and pair32(c, d) to, per 128-bit lane, [a, b, c, d]'s partial sums.
INLINE VNNI __m512i pair64(__m512i ab, __m512i cd) {
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}
/// 128-bit lanes [a.L0+a.L1, a.L2+a.L3, b.L0+b.L1, b.L2+b.L3].
INLINE VNNI __m512i pair128(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// The s32 dot products of R (1..4) activation rows x[r * k ..] with the 4 weight rows w0..w3,
/// as one vector: lane 4r + t holds x_r . w_t (lanes of rows r >= R hold 0). `prefetch` on the
/// first pass over the block fetches the weights PREFETCH_AHEAD bytes on. k is any length;
/// a partial last 64-byte step (k = 768 and 2048 are whole steps; 32-multiples end in 32 bytes)
/// uses masked loads, which read nothing past the rows.
INLINE VNNI __m512i block_sums(const int R, const uint8_t *x, long k, const int8_t *w0, const int8_t *w1,
                               const int8_t *w2, const int8_t *w3, int prefetch) {
    __m512i acc[XR][WR];
    for (int r = 0; r < XR; r++)
        for (int t = 0; t < WR; t++) acc[r][t] = _mm512_setzero_si512();
    long c = 0;
    for (; c + 64 <= k; c += 64) {
        if (prefetch) {
            _mm_prefetch((const char *)w0 + c + PREFETCH_AHEAD, _MM_HINT_NTA);
            _mm_prefetch((const char *)w1 + c + PREFETCH_AHEAD, _MM_HINT_NTA);
            _mm_prefetch((const char *)w2 + c + PREFETCH_AHEAD, _MM_HINT_NTA);
            _mm_prefetch((const char *)w3 + c + PREFETCH_AHEAD, _MM_HINT_NTA);
        }
        const __m512i b0 = _mm512_loadu_si512(w0 + c), b1 = _mm512_loadu_si512(w1 + c);
        const __m512i b2 = _mm512_loadu_si512(w2 + c), b3 = _mm512_loadu_si512(w3 + c);
        for (int r = 0; r < R; r++) {
            const __m512i a = _mm512_loadu_si512(x + r * k + c);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], a, b2);
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], a, b3);
        }
    }
    if (c < k) {
        const __mmask64 tail = (1ULL << (k - c)) - 1;   // k - c < 64
        const __m512i b0 = _mm512_maskz_loadu_epi8(tail, w0 + c), b1 = _mm512_maskz_loadu_epi8(tail, w1 + c);
        const __m512i b2 = _mm512_maskz_loadu_epi8(tail, w2 + c), b3 = _mm512_maskz_loadu_epi8(tail, w3 + c);
        for (int r = 0; r < R; r++) {
            const __m512i a = _mm512_maskz_loadu_epi8(tail, x + r * k + c);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], a, b2);
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], a, b3);
        }
    }
    // Transpose-and-add: per activation row, the 4 accumulators to one vector whose 128-bit lane
    // L holds [x.w0, x.w1, x.w2, x.w3]'s partial sums over lane L; then the lanes of rows
    // (0, 1) and (2, 3) are added pairwise twice, leaving row r's 4 sums in 128-bit lane r.
    __m512i rows[XR];
    for (int r = 0; r < XR; r++)
        rows[r] = r < R ? pair64(pair32(acc[r][0], acc[r][1]), pair32(acc[r][2], acc[r][3])) : _mm512_setzero_si512();
    if (R <= 2) return pair128(pair128(rows[0], rows[1]), _mm512_setzero_si512());
    return pair128(pair128(rows[0], rows[1]), pair128(rows[2], rows[3]));
}

/// y[r0 + r, j + t] = x_scale[r] * w_scale[j + t] * (sums[4r + t] - x_zero[r] * w_sum[j + t]) for
/// r < R and t < nt: the same float operations, in the same order, as ck_dequantize_s32.
INLINE VNNI void store_block(const int R, __m512i sums, long nt, const float *x_scale, const int32_t *x_zero,
                             const int32_t *w_sum, const float *w_scale, long j, float *y, long ldy) {
    const __mmask8 rmask = (__mmask8)((1u << R) - 1), tmask = (__mmask8)((1u << nt) - 1);
    // Lane 4r + t takes activation row r's values and weight row t's.
    const __m512i row_of_lane = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i xz = _mm512_permutexvar_epi32(row_of_lane, _mm512_castsi128_si512(_mm_maskz_loadu_epi32(rmask, x_zero)));
    const __m512 xs = _mm512_permutexvar_ps(row_of_lane, _mm512_castps128_ps512(_mm_maskz_loadu_ps(rmask, x_scale)));
    const __m512i ws = _mm512_broadcast_i32x4(_mm_maskz_loadu_epi32(tmask, w_sum + j));
    const __m512 wsc = _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(tmask, w_scale + j));
    const __m512i centred = _mm512_sub_epi32(sums, _mm512_mullo_epi32(xz, ws));
    const __m512 out = _mm512_mul_ps(_mm512_mul_ps(xs, wsc), _mm512_cvtepi32_ps(centred));
    _mm_mask_storeu_ps(y + j, tmask, _mm512_castps512_ps128(out));
    if (R > 1) _mm_mask_storeu_ps(y + ldy + j, tmask, _mm512_extractf32x4_ps(out, 1));
    if (R > 2) _mm_mask_storeu_ps(y + 2 * ldy + j, tmask, _mm512_extractf32x4_ps(out, 2));
    if (R > 3) _mm_mask_storeu_ps(y + 3 * ldy + j, tmask, _mm512_extractf32x4_ps(out, 3));
}

/// Activation rows r0 .. r0 + R against weight rows j .. j + nt (nt <= 4; the block reads rows
/// past the end as copies of row j, whose results are not stored).
INLINE VNNI void block(const int R, const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long r0, long k,
                       const int8_t *w, const int32_t *w_sum, const float *w_scale, long j, long nt,
                       float *y, long ldy) {
    const int8_t *w0 = w + j * k;
    const int8_t *w1 = nt > 1 ? w0 + k : w0, *w2 = nt > 2 ? w0 + 2 * k : w0, *w3 = nt > 3 ? w0 + 3 * k : w0;
    const __m512i sums = block_sums(R, qx + r0 * k, k, w0, w1, w2, w3, r0 == 0);
    store_block(R, sums, nt, x_scale + r0, x_zero + r0, w_sum, w_scale, j, y + r0 * ldy, ldy);
}

int ck_vnni_supported(void) {
    ck_cpu_features f = ck_detect_cpu_features();
    return ck_isa_supported(CK_ISA_AVX512) && f.avx512_vnni;
}

VNNI void ck_avx512_vnni_int8_product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                                      const int8_t *w, const int32_t *w_sum, const float *w_scale, long row_start,
                                      long row_end, float *y, long ldy) {
    // Each block of 4 weight rows (at most 4 * 2048 bytes) stays in L1 while every group of
    // activation rows passes over it; the activations (at most 16 * 2048 bytes) stay in L1 too.
    for (long j = row_start; j < row_end; j += WR) {
        const long nt = row_end - j < WR ? row_end - j : WR;
        long r0 = 0;
        for (; r0 + XR <= m; r0 += XR) block(4, qx, x_scale, x_zero, r0, k, w, w_sum, w_scale, j, nt, y, ldy);
        switch (m - r0) {
        case 3: block(3, qx, x_scale, x_zero, r0, k, w, w_sum, w_scale, j, nt, y, ldy); break;
        case 2: block(2, qx, x_scale, x_zero, r0, k, w, w_sum, w_scale, j, nt, y, ldy); break;
        case 1: block(1, qx, x_scale, x_zero, r0, k, w, w_sum, w_scale, j, nt, y, ldy); break;
        default: break;
        }
    }
}
#else
int ck_vnni_supported(void) { return 0; }
void ck_avx512_vnni_int8_product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                                 const int8_t *w, const int32_t *w_sum, const float *w_scale, long row_start,
                                 long row_end, float *y, long ldy) {
    (void)qx; (void)x_scale; (void)x_zero; (void)m; (void)k; (void)w; (void)w_sum; (void)w_scale;
    (void)row_start; (void)row_end; (void)y; (void)ldy;
}
#endif
