// NF4 (QLoRA's NormalFloat-4 in bitsandbytes' layout): the table, the quantiser, the activation
// rearrangement, and the portable variant of the streaming product and of the widening. The
// AVX2 and AVX-512 variants (nf4_avx2.c, nf4_avx512.c) look the codes up with register permutes
// instead of the scalar table here. Buffer shapes are documented in CKernels.h.
#include "CKernels.h"
#include <string.h>

// bitsandbytes 0.50.2's NF4 table (bitsandbytes/functional.py get_4bit_type("nf4"), the same in
// backends/utils.py): quantiles of N(0, 1) normalised to [-1, 1] with an exact 0 (QLoRA, 3.1).
const float ck_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

void ck_nf4_quantize_rows(const float *w, long n, long k, uint8_t *packed, float *absmax) {
    float mid[15];
    for (int i = 0; i < 15; i++) mid[i] = (ck_nf4_code[i] + ck_nf4_code[i + 1]) / 2.0f;
    const long blocks = n * (k / 64);
    for (long b = 0; b < blocks; b++) {
        const float *src = w + b * 64;
        float am = 0;
        for (int i = 0; i < 64; i++) { float a = __builtin_fabsf(src[i]); am = a > am ? a : am; }
        absmax[b] = am;
        // bitsandbytes: A * (1.0 / absmax.clamp(min=1e-38)), clamped to [-1, 1].
        const float inv = 1.0f / (am < 1e-38f ? 1e-38f : am);
        uint8_t q[64];
        for (int i = 0; i < 64; i++) {
            float s = src[i] * inv;
            s = s < -1.0f ? -1.0f : s > 1.0f ? 1.0f : s;
            int c = 0;
            for (int t = 0; t < 15; t++) c += mid[t] < s;   // torch.bucketize(s, mid), right=False
            q[i] = (uint8_t)c;
        }
        for (int i = 0; i < 32; i++) packed[b * 32 + i] = (uint8_t)(q[2 * i] << 4 | q[2 * i + 1]);
    }
}

void ck_nf4_permute_activations(const float *x, long m, long k, float *xp) {
    for (long r = 0; r < m; r++)
        for (long b = 0; b < k / 64; b++) {
            const float *src = x + r * k + b * 64;
            float *dst = xp + r * k + b * 64;
            for (int i = 0; i < 32; i++) { dst[i] = src[2 * i]; dst[32 + i] = src[2 * i + 1]; }
        }
}

void ck_baseline_nf4_product(const float *xp, long m, long k, const uint8_t *packed, const float *absmax,
                             long j0, long j1, float *y, long ldy) {
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++) {
        const uint8_t *p = packed + j * (k / 2);
        const float *am = absmax + j * blocks;
        for (long r = 0; r < m; r++) {
            const float *xr = xp + r * k;
            float e0 = 0, e1 = 0, o0 = 0, o1 = 0;
            for (long b = 0; b < blocks; b++) {
                float t[16];
                for (int i = 0; i < 16; i++) t[i] = ck_nf4_code[i] * am[b];
                const uint8_t *pb = p + b * 32;
                const float *xe = xr + b * 64, *xo = xe + 32;
                for (int i = 0; i < 32; i += 2) {
                    e0 += t[pb[i] >> 4] * xe[i]; o0 += t[pb[i] & 15] * xo[i];
                    e1 += t[pb[i + 1] >> 4] * xe[i + 1]; o1 += t[pb[i + 1] & 15] * xo[i + 1];
                }
            }
            y[r * ldy + j] = (e0 + e1) + (o0 + o1);
        }
    }
}

void ck_baseline_nf4_widen_rows(const uint8_t *packed, const float *absmax, long k, long j0, long j1, int permuted,
                                float *out) {
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++)
        for (long b = 0; b < blocks; b++) {
            const float a = absmax[j * blocks + b];
            const uint8_t *pb = packed + j * (k / 2) + b * 32;
            float *o = out + (j - j0) * k + b * 64;
            for (int i = 0; i < 32; i++) {
                const float hi = ck_nf4_code[pb[i] >> 4] * a, lo = ck_nf4_code[pb[i] & 15] * a;
                if (permuted) { o[i] = hi; o[32 + i] = lo; } else { o[2 * i] = hi; o[2 * i + 1] = lo; }
            }
        }
}
