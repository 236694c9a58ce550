// The two-plane F32 kernels (contracts in include/ck_planes.h), written once with vector
// extensions and compiled per ISA after skinny_template.h (whose vector types and hsum they
// share) in each isa_<isa>.c.

typedef uint16_t pv16 __attribute__((vector_size(CK_VW * 2), aligned(2)));
typedef uint32_t pvu __attribute__((vector_size(CK_VW * 4), aligned(4)));

/// CK_VW weights from column c of a row's planes, joined to their exact F32 bits.
CK_INLINE vf planes_load(const uint16_t *hi, const uint16_t *lo, long c) {
    pv16 h, l;
    memcpy(&h, hi + c, sizeof h);
    memcpy(&l, lo + c, sizeof l);
    return (vf)((__builtin_convertvector(h, pvu) << 16) | __builtin_convertvector(l, pvu));
}

/// CK_VW weights of the hi plane alone, as F32 (the bf16 truncation).
CK_INLINE vf planes_load_hi(const uint16_t *hi, long c) {
    pv16 h;
    memcpy(&h, hi + c, sizeof h);
    return (vf)(__builtin_convertvector(h, pvu) << 16);
}

CK_INLINE float planes_join(uint16_t h, uint16_t l) {
    const uint32_t bits = (uint32_t)h << 16 | l;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Asks for the next group of 4 rows of a plane (4 k contiguous halves after `h0`), as many
/// bytes per step of CK_VW columns as the group consumes from that plane (4 x CK_VW x 2):
/// the rows are a quarter the size of F32 rows, so asking a fixed distance ahead per row, as
/// the skinny kernels do, left a one-row screen at 0.6x of the full product instead of 0.36x.
CK_INLINE void planes_prefetch_next_group(const uint16_t *h0, long k, long c) {
    const char *next = (const char *)(h0 + 4 * k) + 8 * c;
    for (int b = 0; b < 8 * CK_VW; b += 64) __builtin_prefetch(next + b, 0, 0);
}

/// x[r] . w[j] for one pair: one vector accumulator over the columns, the lanes summed as a
/// tree, then the columns past the last whole vector. Every path below uses exactly this order.
CK_INLINE float planes_dot(const float *u, long k, const uint16_t *hi, const uint16_t *lo) {
    const long kv = k / CK_VW * CK_VW;
    vf a = {0};
    for (long c = 0; c < kv; c += CK_VW) a += planes_load(hi, lo, c) * load_f(u + c);
    float t = hsum(a);
    for (long c = kv; c < k; c++) t += planes_join(hi[c], lo[c]) * u[c];
    return t;
}

void CK_FN(planes_product)(const float *x, long m, long k, const uint16_t *hi, const uint16_t *lo, long j0, long j1,
                           float *y, long ldy) {
    const long kv = k / CK_VW * CK_VW;
    long j = j0;
    // Four weight rows at a time, each vector of them applied to every activation row while it
    // is in registers or L1: the same sums as planes_dot, pair by pair.
    for (; j + 4 <= j1; j += 4) {
        const uint16_t *h0 = hi + j * k, *h1 = h0 + k, *h2 = h1 + k, *h3 = h2 + k;
        const uint16_t *l0 = lo + j * k, *l1 = l0 + k, *l2 = l1 + k, *l3 = l2 + k;
        for (long r = 0; r < m; r++) {
            const float *u = x + r * k;
            vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (long c = 0; c < kv; c += CK_VW) {
                if (r == 0) { planes_prefetch_next_group(h0, k, c); planes_prefetch_next_group(l0, k, c); }
                const vf xu = load_f(u + c);
                a0 += planes_load(h0, l0, c) * xu;
                a1 += planes_load(h1, l1, c) * xu;
                a2 += planes_load(h2, l2, c) * xu;
                a3 += planes_load(h3, l3, c) * xu;
            }
            float t[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
            for (long c = kv; c < k; c++) {
                t[0] += planes_join(h0[c], l0[c]) * u[c]; t[1] += planes_join(h1[c], l1[c]) * u[c];
                t[2] += planes_join(h2[c], l2[c]) * u[c]; t[3] += planes_join(h3[c], l3[c]) * u[c];
            }
            float *yr = y + r * ldy + j;
            yr[0] = t[0]; yr[1] = t[1]; yr[2] = t[2]; yr[3] = t[3];
        }
    }
    for (; j < j1; j++)
        for (long r = 0; r < m; r++) y[r * ldy + j] = planes_dot(x + r * k, k, hi + j * k, lo + j * k);
}

/// approx and size of one (activation row, weight row) pair, in the kernel's order.
CK_INLINE void planes_screen_one(const float *u, long k, const uint16_t *h, float *approx, float *size) {
    const long kv = k / CK_VW * CK_VW;
    vf a = {0}, s = {0};
    for (long c = 0; c < kv; c += CK_VW) {
        const vf w = planes_load_hi(h, c), xu = load_f(u + c);
        a += w * xu;
        s += (vf)((vi)w & 0x7fffffff) * (vf)((vi)xu & 0x7fffffff);
    }
    float ta = hsum(a), ts = hsum(s);
    for (long c = kv; c < k; c++) {
        const float w = planes_join(h[c], 0);
        ta += w * u[c];
        ts += __builtin_fabsf(w) * __builtin_fabsf(u[c]);
    }
    *approx = ta;
    *size = ts;
}

void CK_FN(planes_screen)(const float *x, long m, long k, const uint16_t *hi, long j0, long j1, float *approx,
                          float *size, long ld) {
    const long kv = k / CK_VW * CK_VW;
    long j = j0;
    // Four weight rows at a time: eight independent sums per activation row (one chain of
    // multiply-adds per sum would wait on its latency), the rows re-read from L1 for the next.
    for (; j + 4 <= j1; j += 4) {
        const uint16_t *h0 = hi + j * k, *h1 = h0 + k, *h2 = h1 + k, *h3 = h2 + k;
        for (long r = 0; r < m; r++) {
            const float *u = x + r * k;
            vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
            for (long c = 0; c < kv; c += CK_VW) {
                if (r == 0) planes_prefetch_next_group(h0, k, c);
                const vf xu = load_f(u + c), xa = (vf)((vi)xu & 0x7fffffff);
                const vf w0 = planes_load_hi(h0, c), w1 = planes_load_hi(h1, c);
                const vf w2 = planes_load_hi(h2, c), w3 = planes_load_hi(h3, c);
                a0 += w0 * xu; a1 += w1 * xu; a2 += w2 * xu; a3 += w3 * xu;
                s0 += (vf)((vi)w0 & 0x7fffffff) * xa; s1 += (vf)((vi)w1 & 0x7fffffff) * xa;
                s2 += (vf)((vi)w2 & 0x7fffffff) * xa; s3 += (vf)((vi)w3 & 0x7fffffff) * xa;
            }
            float ta[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)}, ts[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
            for (long c = kv; c < k; c++)
                for (int q = 0; q < 4; q++) {
                    const float w = planes_join(hi[(j + q) * k + c], 0);
                    ta[q] += w * u[c];
                    ts[q] += __builtin_fabsf(w) * __builtin_fabsf(u[c]);
                }
            for (int q = 0; q < 4; q++) { approx[r * ld + j + q] = ta[q]; size[r * ld + j + q] = ts[q]; }
        }
    }
    for (; j < j1; j++)
        for (long r = 0; r < m; r++) planes_screen_one(x + r * k, k, hi + j * k, approx + r * ld + j, size + r * ld + j);
}

void CK_FN(planes_widen)(const uint16_t *hi, const uint16_t *lo, long k, long j0, long j1, float *out) {
    for (long j = j0; j < j1; j++)
        for (long c = 0; c < k; c++) out[(j - j0) * k + c] = planes_join(hi[j * k + c], lo[j * k + c]);
}
