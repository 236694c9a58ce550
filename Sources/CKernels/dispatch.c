// Routes each kernel call to the variant asked for.
#include "CKernels.h"
#include "ck_variants.h"

typedef void (*skinny_fn)(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long);
typedef void (*widen_fn)(int, const uint32_t *, long, int, const float *, long, long, float *);

#define DECLARE(isa) \
    void ck_##isa##_skinny_f32(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_skinny_bf16(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_skinny_int8(const float *, long, long, const uint32_t *, int, const float *, long, long, float *, long); \
    void ck_##isa##_widen_rows(int, const uint32_t *, long, int, const float *, long, long, float *); \
    void ck_##isa##_quantize_rows_u8(const float *, long, long, int, int, uint8_t *, float *, int32_t *); \
    void ck_##isa##_dequantize_s32(const int32_t *, long, long, long, const float *, const int32_t *, const int32_t *, \
                                   const float *, float *, long);
DECLARE(baseline)
#if defined(__x86_64__)
DECLARE(avx2)
DECLARE(avx512)
#endif

/// Indexed [layout][isa].
static const skinny_fn skinny_table[3][3] = {CK_VARIANTS(skinny_f32), CK_VARIANTS(skinny_bf16), CK_VARIANTS(skinny_int8)};
static const widen_fn widen_table[3] = CK_VARIANTS(widen_rows);

void ck_skinny_product(ck_isa isa, ck_layout layout, const float *x, long m, long k, const uint32_t *w,
                       int paneled, const float *row_scale, long row_start, long row_end, float *y, long ldy) {
    skinny_table[layout][isa](x, m, k, w, paneled, row_scale, row_start, row_end, y, ldy);
}

void ck_widen_rows(ck_isa isa, ck_layout layout, const uint32_t *w, long k, int paneled,
                   const float *row_scale, long row_start, long row_end, float *out) {
    widen_table[isa](layout, w, k, paneled, row_scale, row_start, row_end, out);
}

typedef void (*quantize_fn)(const float *, long, long, int, int, uint8_t *, float *, int32_t *);
typedef void (*dequantize_fn)(const int32_t *, long, long, long, const float *, const int32_t *, const int32_t *,
                              const float *, float *, long);
static const quantize_fn quantize_table[3] = CK_VARIANTS(quantize_rows_u8);
static const dequantize_fn dequantize_table[3] = CK_VARIANTS(dequantize_s32);

void ck_quantize_rows_u8(ck_isa isa, const float *x, long m, long k, int bits, int permute32, uint8_t *q, float *scale,
                         int32_t *zero) {
    quantize_table[isa](x, m, k, bits, permute32, q, scale, zero);
}

void ck_dequantize_s32(ck_isa isa, const int32_t *c, long m, long n, long ldc, const float *a_scale, const int32_t *a_zero,
                       const int32_t *w_sum, const float *w_scale, float *y, long ldy) {
    dequantize_table[isa](c, m, n, ldc, a_scale, a_zero, w_sum, w_scale, y, ldy);
}

// ---- NF4 ----
typedef void (*nf4_product_fn)(const float *, long, long, const uint8_t *, const float *, long, long, float *, long);
typedef void (*nf4_widen_fn)(const uint8_t *, const float *, long, long, long, int, float *);
#define DECLARE_NF4(isa) \
    void ck_##isa##_nf4_product(const float *, long, long, const uint8_t *, const float *, long, long, float *, long); \
    void ck_##isa##_nf4_widen_rows(const uint8_t *, const float *, long, long, long, int, float *);
DECLARE_NF4(baseline)
#if defined(__x86_64__)
DECLARE_NF4(avx2)
DECLARE_NF4(avx512)
#endif
static const nf4_product_fn nf4_product_table[3] = CK_VARIANTS(nf4_product);
static const nf4_widen_fn nf4_widen_table[3] = CK_VARIANTS(nf4_widen_rows);

void ck_nf4_product(ck_isa isa, const float *xp, long m, long k, const uint8_t *packed, const float *absmax,
                    long row_start, long row_end, float *y, long ldy) {
    nf4_product_table[isa](xp, m, k, packed, absmax, row_start, row_end, y, ldy);
}

void ck_nf4_widen_rows(ck_isa isa, const uint8_t *packed, const float *absmax, long k, long row_start,
                       long row_end, int permuted, float *out) {
    nf4_widen_table[isa](packed, absmax, k, row_start, row_end, permuted, out);
}
