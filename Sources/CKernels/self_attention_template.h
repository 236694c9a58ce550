// Single-query attention over F32 cached rows (a decoder step's self-attention, and its
// cross-attention when the weights are F32), compiled per ISA after attention_template.h (whose
// score and value loops it shares with the compact caches) and activation_template.h (whose
// softmax it uses) in each isa_<isa>.c. Contract in include/ck_activation.h.

void CK_FN(self_attention)(const float *q, const float *keys, const float *values, long tk, long heads, long dkv,
                           const float *bias, long h0, long h1, float *scores, float *ctx) {
    if (h1 <= h0) return;
    akv_scores(CK_KV_F32, q, keys, NULL, tk, heads, dkv, h0, h1, scores);
    CK_FN(softmax_rows)(scores, h1 - h0, tk, bias ? bias + h0 * tk : NULL);
    akv_values(CK_KV_F32, scores, values, NULL, tk, heads, dkv, h0, h1, ctx);
}
