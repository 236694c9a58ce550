// Two-plane F32 matrices: splitting, the plain references, and the route to each variant.
#include "ck_planes.h"
#include "ck_variants.h"
#include <math.h>
#include <string.h>

typedef void (*product_fn)(const float *, long, long, const uint16_t *, const uint16_t *, long, long, float *, long);
typedef void (*screen_fn)(const float *, long, long, const uint16_t *, long, long, float *, float *, long);
typedef void (*widen_fn)(const uint16_t *, const uint16_t *, long, long, long, float *);
#define DECLARE_PLANES(isa) \
    void ck_##isa##_planes_product(const float *, long, long, const uint16_t *, const uint16_t *, long, long, float *, \
                                   long); \
    void ck_##isa##_planes_screen(const float *, long, long, const uint16_t *, long, long, float *, float *, long); \
    void ck_##isa##_planes_widen(const uint16_t *, const uint16_t *, long, long, long, float *);
DECLARE_PLANES(baseline)
#if defined(__x86_64__)
DECLARE_PLANES(avx2)
DECLARE_PLANES(avx512)
#endif
static const product_fn product_table[3] = CK_VARIANTS(planes_product);
static const screen_fn screen_table[3] = CK_VARIANTS(planes_screen);
static const widen_fn widen_table[3] = CK_VARIANTS(planes_widen);

void ck_planes_split(const float *w, long n, long k, uint16_t *hi, uint16_t *lo) {
    for (long i = 0; i < n * k; i++) {
        uint32_t bits;
        memcpy(&bits, w + i, 4);
        hi[i] = (uint16_t)(bits >> 16);
        lo[i] = (uint16_t)bits;
    }
}

void ck_planes_product(ck_isa isa, const float *x, long m, long k, const uint16_t *hi, const uint16_t *lo, long j0,
                       long j1, float *y, long ldy) {
    product_table[isa](x, m, k, hi, lo, j0, j1, y, ldy);
}

void ck_planes_screen(ck_isa isa, const float *x, long m, long k, const uint16_t *hi, long j0, long j1, float *approx,
                      float *size, long ld) {
    screen_table[isa](x, m, k, hi, j0, j1, approx, size, ld);
}

void ck_planes_widen(ck_isa isa, const uint16_t *hi, const uint16_t *lo, long k, long j0, long j1, float *out) {
    widen_table[isa](hi, lo, k, j0, j1, out);
}

static float join(uint16_t h, uint16_t l) {
    const uint32_t bits = (uint32_t)h << 16 | l;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void ck_planes_product_reference(const float *x, long m, long k, const uint16_t *hi, const uint16_t *lo, long j0,
                                 long j1, float *y, long ldy) {
    for (long j = j0; j < j1; j++)
        for (long r = 0; r < m; r++) {
            double s = 0;
            for (long c = 0; c < k; c++) s += (double)join(hi[j * k + c], lo[j * k + c]) * x[r * k + c];
            y[r * ldy + j] = (float)s;
        }
}

void ck_planes_screen_reference(const float *x, long m, long k, const uint16_t *hi, long j0, long j1, float *approx,
                                float *size, long ld) {
    for (long j = j0; j < j1; j++)
        for (long r = 0; r < m; r++) {
            double a = 0, s = 0;
            for (long c = 0; c < k; c++) {
                const double w = join(hi[j * k + c], 0);
                a += w * x[r * k + c];
                s += fabs(w) * fabs((double)x[r * k + c]);
            }
            approx[r * ld + j] = (float)a;
            size[r * ld + j] = (float)s;
        }
}
