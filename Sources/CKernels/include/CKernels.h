#ifndef CKERNELS_H
#define CKERNELS_H
/// The hot kernels in per-ISA variants, chosen once at start from cpuid (CTranslate2's cpu_isa
/// approach), and the shim to oneDNN's GEMMs. Imported by Numerics only.
#include <stdint.h>

/// Instruction sets with a kernel variant, from the portable baseline (any x86-64, or any
/// other CPU) up.
typedef enum {
    CK_ISA_BASELINE = 0,
    CK_ISA_AVX2 = 1,     // AVX2 + FMA, with OS support for the YMM state
    CK_ISA_AVX512 = 2,   // AVX-512 F/BW/VL/DQ, with OS support for the ZMM state
} ck_isa;

/// What cpuid and xgetbv report; each flag is 0 or 1 (instruction present AND its register
/// state enabled by the OS).
typedef struct {
    int sse42, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq;
    int avx512_vnni, avx512_bf16, avx_vnni;
} ck_cpu_features;

ck_cpu_features ck_detect_cpu_features(void);
/// Is variant `isa` runnable on this machine?
int ck_isa_supported(ck_isa isa);
/// The variant in use: the best supported one, or ADAPTER_SERVE_ISA (baseline|avx2|avx512)
/// when set (read once, at the first call; a value the CPU cannot run falls back to the best).
ck_isa ck_selected_isa(void);
/// "baseline", "avx2", "avx512".
const char *ck_isa_name(ck_isa isa);
/// Why the selection is what it is (e.g. the unknown or unsupported ADAPTER_SERVE_ISA value);
/// empty when the best variant was chosen without an override.
const char *ck_selection_note(void);

/// Weight row layouts (see Numerics' PackedLayout): F32 (8-float blocks), BF16 (word t of a
/// 16-weight block holds weight t low, 8+t high), INT8 (byte q of word t of a 32-weight
/// block is weight 8q+t).
typedef enum { CK_LAYOUT_F32 = 0, CK_LAYOUT_BF16 = 1, CK_LAYOUT_INT8 = 2 } ck_layout;

/// y[r, j] = sum_c x[r, c] * W[j, c] * (row_scale ? row_scale[j] : 1) for the weight rows
/// j in [row_start, row_end). x is (m, k) row-major; W's rows are `k` weights in `layout`,
/// row-major or (paneled) in 4-row panels of interleaved 8-word blocks; y has row stride ldy.
/// Runs variant `isa` (which must be supported).
void ck_skinny_product(ck_isa isa, ck_layout layout, const float *x, long m, long k,
                       const uint32_t *w, int paneled, const float *row_scale,
                       long row_start, long row_end, float *y, long ldy);

/// Rows [row_start, row_end) of W as F32 in logical order, times row_scale (if not NULL), into
/// out ((row_end - row_start), k).
void ck_widen_rows(ck_isa isa, ck_layout layout, const uint32_t *w, long k, int paneled,
                   const float *row_scale, long row_start, long row_end, float *out);

// ---- Dynamically quantised int8 products (prefill) ----

/// Quantises each row of x (m, k) to unsigned `bits`-bit values (8, or 7 where u8 x s8 pairs
/// would saturate 16-bit sums without VNNI) with a per-row scale and zero point:
/// x ~= scale[r] * (q - zero[r]). With permute32, the columns of each 32-wide block are written
/// in the INT8 layout's byte order (q[32b + 4t + s] holds column 32b + 8s + t), so the product
/// with the stored weight bytes is the product with the logical weights. q is (m, k). Every
/// variant gives the same bytes.
void ck_quantize_rows_u8(ck_isa isa, const float *x, long m, long k, int bits, int permute32,
                         uint8_t *q, float *scale, int32_t *zero);

/// c (m, n) = a (m, k, u8) . b (n, k, s8)^T, exact in s32: the plain reference.
void ck_gemm_u8s8s32_reference(long m, long n, long k, const uint8_t *a, long lda,
                               const int8_t *b, long ldb, int32_t *c, long ldc);

/// y[r, j] = a_scale[r] * w_scale[j] * (c[r, j] - a_zero[r] * w_sum[j]) for j < n.
void ck_dequantize_s32(ck_isa isa, const int32_t *c, long m, long n, long ldc, const float *a_scale,
                       const int32_t *a_zero, const int32_t *w_sum, const float *w_scale,
                       float *y, long ldy);

/// Can this CPU run ck_avx512_vnni_int8_product (AVX-512 with VNNI)?
int ck_vnni_supported(void);

/// The int8 decode product on AVX-512 VNNI: y[r, j] = x_scale[r] * w_scale[j] *
/// (qx[r] . w[j] - x_zero[r] * w_sum[j]) for weight rows j in [row_start, row_end). qx (m, k) is
/// quantised by ck_quantize_rows_u8 with permute32 and 8 bits; w (n, k) holds the weights' stored
/// bytes; k a multiple of 32. The same arithmetic as the reference GEMM plus ck_dequantize_s32,
/// so the results are bit-identical. Only when ck_vnni_supported().
void ck_avx512_vnni_int8_product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                                 const int8_t *w, const int32_t *w_sum, const float *w_scale, long row_start,
                                 long row_end, float *y, long ldy);

/// oneDNN's u8s8s32 GEMM, same contract as the reference, on the calling thread only (its
/// OpenMP team is set to 1 thread: our own workers split the product, so no OpenMP thread is
/// left spinning on a core the decoder needs). Returns 0 on success, else oneDNN's status.
int ck_dnnl_gemm_u8s8s32(long m, long n, long k, const uint8_t *a, long lda,
                         const int8_t *b, long ldb, int32_t *c, long ldc);

/// oneDNN's sgemm: c (m, n) = a (m, k) . b^T, b stored (n, k), row-major, on the calling
/// thread. Returns 0 on success.
int ck_dnnl_sgemm_nt(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                     float *c, long ldc);
/// The same with b stored (k, n): c (m, n) = a (m, k) . b.
int ck_dnnl_sgemm_nn(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                     float *c, long ldc);

// Single-query attention over compact (bf16 / int8) cross-attention caches.
#include "ck_attention.h"
#include "ck_planes.h"
// GELU, softmax and single-query self-attention over F32 caches.
#include "ck_activation.h"

// The engine's persistent worker threads (WorkerPool).
#include "ck_pool.h"

// ---- NF4 (QLoRA's NormalFloat-4, bitsandbytes' layout) ----

/// The 16 NF4 values, bitsandbytes' table (ascending; code 7 is exactly 0).
extern const float ck_nf4_code[16];

/// Quantises rows of w (n, k), k a multiple of 64, as bitsandbytes' quantize_4bit(blocksize=64,
/// quant_type="nf4") does: per 64-weight block absmax[b] = max |w|; s = clamp(w * (1 / absmax),
/// -1, 1); the code is the number of midpoints between neighbouring NF4 values (computed in
/// fp32) that lie strictly below s, so a value on a midpoint takes the lower code. packed
/// (n, k / 2) holds two codes per byte, the first of each pair in the high nibble; absmax is
/// (n, k / 64).
void ck_nf4_quantize_rows(const float *w, long n, long k, uint8_t *packed, float *absmax);

/// x (m, k) rearranged for the NF4 kernels: within each 64-column block, the 32 even columns
/// then the 32 odd ones (the high and low nibbles of the block's 32 bytes). xp is (m, k).
void ck_nf4_permute_activations(const float *x, long m, long k, float *xp);

/// y[r, j] = sum_c x[r, c] * code[q[j, c]] * absmax[j, c / 64] for weight rows j in
/// [row_start, row_end), streaming the 4-bit codes (packed and absmax as ck_nf4_quantize_rows
/// writes them; k a multiple of 64). xp is x after ck_nf4_permute_activations; y has row
/// stride ldy. Runs variant `isa` (which must be supported).
void ck_nf4_product(ck_isa isa, const float *xp, long m, long k, const uint8_t *packed, const float *absmax,
                    long row_start, long row_end, float *y, long ldy);

/// x (m, k) rounded to bf16 (to nearest, ties to even) in ck_nf4_permute_activations' order,
/// for ck_avx512_nf4_product_bf16. xb is (m, k).
void ck_nf4_permute_activations_bf16(const float *x, long m, long k, uint16_t *xb);

/// Can this CPU run ck_avx512_nf4_product_bf16 (AVX-512 with AVX512_BF16)?
int ck_nf4_bf16_supported(void);

/// The NF4 decode product in QLoRA's bf16 compute dtype: y[r, j] = sum_c bf16(x[r, c]) *
/// bf16(code[q[j, c]] * absmax[j, c / 64]) for weight rows j in [row_start, row_end), products
/// summed in fp32 by vdpbf16ps (its pairs, then lanes, in another order than the plain sum).
/// xb is x after ck_nf4_permute_activations_bf16; the rest as ck_nf4_product. Only when
/// ck_nf4_bf16_supported().
void ck_avx512_nf4_product_bf16(const uint16_t *xb, long m, long k, const uint8_t *packed, const float *absmax,
                                long row_start, long row_end, float *y, long ldy);

/// Rows [row_start, row_end) as F32, each weight exactly code[q] * absmax (bitsandbytes'
/// dequantize_4bit), into out ((row_end - row_start), k): in logical column order, or with
/// `permuted` in ck_nf4_permute_activations' order (a GEMM against permuted activations needs
/// no interleave).
void ck_nf4_widen_rows(ck_isa isa, const uint8_t *packed, const float *absmax, long k, long row_start,
                       long row_end, int permuted, float *out);

#endif
