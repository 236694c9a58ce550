// Routes each kernel call to the variant asked for.
#include "CKernels.h"

typedef void (*skinny_fn)(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long);
typedef void (*widen_fn)(int, const uint32_t *, long, int, const float *, long, long, float *);

#define DECLARE(isa) \
    void ck_##isa##_skinny_f32(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_skinny_bf16(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_skinny_int8(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_widen_rows(int, const uint32_t *, long, int, const float *, long, long, float *);
DECLARE(baseline)
#if defined(__x86_64__)
DECLARE(avx2)
DECLARE(avx512)
#endif

static const skinny_fn skinny_table[3][3] = {
    {ck_baseline_skinny_f32, ck_baseline_skinny_bf16, ck_baseline_skinny_int8},
#if defined(__x86_64__)
    {ck_avx2_skinny_f32, ck_avx2_skinny_bf16, ck_avx2_skinny_int8},
    {ck_avx512_skinny_f32, ck_avx512_skinny_bf16, ck_avx512_skinny_int8},
#else
    {ck_baseline_skinny_f32, ck_baseline_skinny_bf16, ck_baseline_skinny_int8},
    {ck_baseline_skinny_f32, ck_baseline_skinny_bf16, ck_baseline_skinny_int8},
#endif
};

static const widen_fn widen_table[3] = {
#if defined(__x86_64__)
    ck_baseline_widen_rows, ck_avx2_widen_rows, ck_avx512_widen_rows,
#else
    ck_baseline_widen_rows, ck_baseline_widen_rows, ck_baseline_widen_rows,
#endif
};

void ck_skinny_product(ck_isa isa, ck_layout layout, const float *x, long m, long k, const uint32_t *w,
                       int paneled, const float *row_scale, long row_start, long row_end, float *y, long ldy) {
    skinny_table[isa][layout](x, m, k, w, paneled, row_scale, row_start, row_end, y, ldy);
}

void ck_widen_rows(ck_isa isa, ck_layout layout, const uint32_t *w, long k, int paneled,
                   const float *row_scale, long row_start, long row_end, float *out) {
    widen_table[isa](layout, w, k, paneled, row_scale, row_start, row_end, out);
}
