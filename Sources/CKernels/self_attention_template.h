// Single-query attention over F32 cached rows (a decoder step's self-attention), compiled per ISA
// after activation_template.h (whose softmax it uses) in each isa_<isa>.c. Contract in
// include/ck_activation.h.

/// a . b over n floats, two accumulators.
EV_INLINE float ev_dot(const float *a, const float *b, long n) {
    evf acc0 = {0}, acc1 = {0};
    long d = 0;
    for (; d + 2 * CK_VW <= n; d += 2 * CK_VW) {
        acc0 += ev_load(a + d) * ev_load(b + d);
        acc1 += ev_load(a + d + CK_VW) * ev_load(b + d + CK_VW);
    }
    for (; d + CK_VW <= n; d += CK_VW) acc0 += ev_load(a + d) * ev_load(b + d);
    float s = ev_hsum(acc0 + acc1);
    for (; d < n; d++) s += a[d] * b[d];
    return s;
}

/// y += p x over n floats.
EV_INLINE void ev_axpy(float p, const float *x, float *y, long n) {
    const evf pv = ev_splat(p);
    long d = 0;
    for (; d + CK_VW <= n; d += CK_VW) ev_store(y + d, ev_load(y + d) + pv * ev_load(x + d));
    for (; d < n; d++) y[d] += p * x[d];
}

void CK_FN(self_attention)(const float *q, const float *keys, const float *values, long tk, long heads, long dkv,
                           const float *bias, long h0, long h1, float *scores, float *ctx) {
    const long inner = heads * dkv, hn = h1 - h0;
    if (hn <= 0) return;
    for (long j = 0; j < tk; j++) {
        const float *row = keys + j * inner;
        for (long h = h0; h < h1; h++) scores[(h - h0) * tk + j] = ev_dot(q + h * dkv, row + h * dkv, dkv);
    }
    CK_FN(softmax_rows)(scores, hn, tk, bias ? bias + h0 * tk : NULL);
    float *out = ctx + h0 * dkv;
    memset(out, 0, sizeof(float) * hn * dkv);
    for (long j = 0; j < tk; j++) {
        const float *row = values + j * inner + h0 * dkv;
        for (long g = 0; g < hn; g++) ev_axpy(scores[g * tk + j], row + g * dkv, out + g * dkv, dkv);
    }
}
