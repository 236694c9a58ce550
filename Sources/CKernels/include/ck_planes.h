#ifndef CK_PLANES_H
#define CK_PLANES_H
/// An F32 matrix kept as two 16-bit planes of the same 4 bytes a weight: hi[j * k + c] holds the
/// upper half of w[j][c]'s bits (its bf16 truncation: sign, exponent, 7 mantissa bits), lo the
/// lower half. Joining them gives w exactly, so every product stays F32; a greedy decoder step
/// can read the hi plane alone to bound every logit and re-score exactly only the rows that
/// could still be the largest (the lm_head is a fifth of an F32 step's bytes). Per ISA like the
/// weight kernels, each beside a plain scalar reference. Imported by Numerics only.
#include "CKernels.h"

/// Splits rows (n, k) of F32 into the planes (n, k) each. Plain C.
void ck_planes_split(const float *w, long n, long k, uint16_t *hi, uint16_t *lo);

/// y[r * ldy + j] = x[r] . w[j] for activation rows r < m and weight rows j in [j0, j1), the
/// weights joined from the planes. Each (r, j) is summed in the same order whatever m, j0 and
/// j1 are, so one row re-scored alone gives the bits it gets in a whole product.
void ck_planes_product(ck_isa isa, const float *x, long m, long k, const uint16_t *hi, const uint16_t *lo,
                       long j0, long j1, float *y, long ldy);

/// From the hi plane alone, for r < m and j in [j0, j1): approx[r * ld + j] = x[r] . hi[j] and
/// size[r * ld + j] = |x[r]| . |hi[j]| (hi[j] read as bf16). |w - hi| < 2^-7 |hi| weight by
/// weight, so x[r] . w[j] lies within about 2^-7 size of approx (ck_planes_bound).
void ck_planes_screen(ck_isa isa, const float *x, long m, long k, const uint16_t *hi, long j0, long j1,
                      float *approx, float *size, long ld);

/// Rows [j0, j1) joined to F32 into out ((j1 - j0, k)).
void ck_planes_widen(ck_isa isa, const uint16_t *hi, const uint16_t *lo, long k, long j0, long j1, float *out);

/// The plain references (double sums for the products; same contracts otherwise).
void ck_planes_product_reference(const float *x, long m, long k, const uint16_t *hi, const uint16_t *lo, long j0,
                                 long j1, float *y, long ldy);
void ck_planes_screen_reference(const float *x, long m, long k, const uint16_t *hi, long j0, long j1, float *approx,
                                float *size, long ld);
#endif
