"""`ct2-transformers-converter` with one fix for FLAN-T5 (T5 v1.1) under transformers >= 5.

CTranslate2's T5 loader decides whether to scale the decoder output by d_model**-0.5 from
`model.config.tie_word_embeddings`. transformers 5 forces that attribute to True for every T5 and
keeps the checkpoint's real setting in `config.scale_decoder_outputs` (False for FLAN, whose
lm_head is untied), so the stock converter would divide FLAN's logits by sqrt(768). Greedy argmax
would not change, but log-probs (and so beam search and sampling) would; score_batch in
bench_reference.py's sanity check shows the difference. Everything else is the stock converter:
same arguments (--model, --output_dir, --quantization, --force, ...).
"""

from ctranslate2.converters import transformers as ct2_transformers
from ctranslate2.specs import model_spec

_stock_get_model_spec = ct2_transformers.T5Loader.get_model_spec


def _get_model_spec(self, model):
    spec = _stock_get_model_spec(self, model)
    scale = getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)
    if not scale:
        spec.decoder.scale_outputs = model_spec.OPTIONAL
    return spec


ct2_transformers.T5Loader.get_model_spec = _get_model_spec

if __name__ == "__main__":
    ct2_transformers.main()
