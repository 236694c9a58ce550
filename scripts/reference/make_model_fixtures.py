"""Builds the tiny reference checkpoints, PEFT adapters and transformers/PEFT outputs that the
Swift tests compare against (Tests/Fixtures/models/). Run with the reference venv:

    bash scripts/reference/setup-venv.sh
    .venv-ref/bin/python scripts/reference/make_model_fixtures.py

Weights are random but rounded to bf16 and stored as BF16 (small files); the references run in
float32 on exactly those values, so the Swift loader's exact bf16->f32 widening reproduces them.
References use use_cache=False (transformers 5 generate breaks with caching when
num_decoder_layers != num_layers). Deterministic: re-running rewrites identical files.
"""
import json
import pathlib
import shutil

import torch
import peft
import transformers
from peft import LoraConfig, PeftModel, PromptTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
OUT = ROOT / "Tests/Fixtures/models"
LAB = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
torch.set_num_threads(2)
tokenizer = AutoTokenizer.from_pretrained(ASSETS / "flan-t5-base")
dialogues = [json.loads(l)["dialogue"] for l in (ASSETS / "dialogsum/dialogsum.test.jsonl").read_text().splitlines()[:4]]

MODELS = {
    "tiny-flan": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False, d_model=32, d_kv=8, num_heads=4,
                      d_ff=64, num_layers=2, num_decoder_layers=3, relative_attention_num_buckets=32,
                      relative_attention_max_distance=128),
    "tiny-t5v1": dict(feed_forward_proj="relu", tie_word_embeddings=True, d_model=32, d_kv=8, num_heads=2,
                      d_ff=48, num_layers=2, num_decoder_layers=2, relative_attention_num_buckets=16,
                      relative_attention_max_distance=20),
}


def bf16(t):
    return t.to(torch.bfloat16).float()


def make_base(name, spec, seed):
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=32128, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0, **spec)
    model = T5ForConditionalGeneration(cfg).eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if k not in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")}
    # Larger embeddings/head than the default init so tiny random models emit varied tokens.
    state["shared.weight"] = torch.randn(32128, spec["d_model"]) * 2.0
    if not spec["tie_word_embeddings"]:
        state["lm_head.weight"] = torch.randn(32128, spec["d_model"]) * 0.5
    state = {k: bf16(v).contiguous() for k, v in state.items()}
    directory = OUT / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, directory / "model.safetensors", metadata={"format": "pt"})
    config = cfg.to_dict()
    config["tie_word_embeddings"] = spec["tie_word_embeddings"]
    config.pop("scale_decoder_outputs", None)
    for key in ("transformers_version", "_name_or_path", "dtype", "torch_dtype"):
        config.pop(key, None)
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def load_base(directory):
    model = T5ForConditionalGeneration.from_pretrained(directory, dtype=torch.float32).eval()
    return model


def generate(model, ids=None, embeds=None, params=None, use_cache=False):
    """Generated ids after the decoder start token, and the min top-1/top-2 margin (greedy).
    use_cache=False by default (transformers 5 caching and num_decoder_layers != num_layers);
    prefix tuning needs True, because PEFT injects the prefix into the cache at the first step."""
    params = dict(params or {})
    kwargs = dict(use_cache=use_cache, do_sample=False, return_dict_in_generate=True, output_scores=True, **params)
    with torch.no_grad():
        if embeds is not None:
            out = model.generate(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long), **kwargs)
        else:
            out = model.generate(input_ids=torch.tensor([ids]), **kwargs)
    tokens = out.sequences[0, 1:].tolist()
    while tokens and tokens[-1] == 0 and params.get("num_beams", 1) > 1:
        tokens.pop()   # beam outputs are padded to the longest beam; ours is one sequence
    margin = None
    if params.get("num_beams", 1) == 1:
        margins = []
        for step in out.scores:
            top = torch.topk(step[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        margin = min(margins) if margins else None
    return tokens, margin


def first_logits(model, ids=None, embeds=None):
    with torch.no_grad():
        start = torch.tensor([[model.config.decoder_start_token_id]])
        if embeds is not None:
            out = model(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long), decoder_input_ids=start)
        else:
            out = model(input_ids=torch.tensor([ids]), decoder_input_ids=start)
    return out.logits[0, 0].float().contiguous()


BASE_CASES = (
    [(f"greedy-d{i}", LAB.format(dialogue=d), {"max_new_tokens": 20}, True) for i, d in enumerate(dialogues)]
    + [("beam4-d0", LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 16, "num_beams": 4}, False),
       ("beam4-d1", LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 16, "num_beams": 4}, False),
       ("beam3-lp2-early-d2", LAB.format(dialogue=dialogues[2]),
        {"max_new_tokens": 16, "num_beams": 3, "length_penalty": 2.0, "early_stopping": True}, False),
       ("min-new-d3", LAB.format(dialogue=dialogues[3]), {"max_new_tokens": 20, "min_new_tokens": 10}, False),
       ("repetition-d0", LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 20, "repetition_penalty": 1.3}, False),
       ("no-repeat-d1", LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 20, "no_repeat_ngram_size": 2}, False),
       ("mixed-beam-d2", LAB.format(dialogue=dialogues[2]),
        {"max_new_tokens": 16, "num_beams": 2, "no_repeat_ngram_size": 3, "repetition_penalty": 1.2, "min_new_tokens": 5}, False),
       ("hello", "Hello world", {"max_new_tokens": 12}, True),
       ("empty", "", {"max_new_tokens": 12}, False)]
)


def randomise_lora(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_(bf16(torch.randn(p.shape, generator=g) * 0.3))


def make_adapters(name, directory, seed):
    """Writes PEFT adapters for this base; returns {adapter name: kind}."""
    d_model = MODELS[name]["d_model"]
    specs = {
        "tiny-flan": {
            "lora-qv": LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.05, bias="none",
                                  task_type=TaskType.SEQ_2_SEQ_LM),
            "lora-all-rslora": LoraConfig(r=4, lora_alpha=8, use_rslora=True, target_modules=["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
                                          task_type=TaskType.SEQ_2_SEQ_LM),
            "lora-patterns": LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], layers_to_transform=[0, 2],
                                        rank_pattern={"q": 4}, alpha_pattern={"v": 4}, task_type=TaskType.SEQ_2_SEQ_LM),
            "lora-regex": LoraConfig(r=8, lora_alpha=16, target_modules=r".*decoder.*\.(q|v)", task_type=TaskType.SEQ_2_SEQ_LM),
            "prompt-20": PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=20),
        },
        "tiny-t5v1": {
            "lora-qv": LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], task_type=TaskType.SEQ_2_SEQ_LM),
            "prompt-8": PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=8),
        },
    }[name]
    kinds = {}
    for i, (adapter, config) in enumerate(specs.items()):
        base = load_base(directory)
        model = get_peft_model(base, config)
        if isinstance(config, LoraConfig):
            randomise_lora(model, seed + i)
            kinds[adapter] = "lora"
        else:
            g = torch.Generator().manual_seed(seed + i)
            with torch.no_grad():
                emb = model.prompt_encoder["default"].embedding.weight
                emb.copy_(bf16(torch.randn(emb.shape, generator=g) * 2.0))
            kinds[adapter] = "prompt"
        model.save_pretrained(directory / "adapters" / adapter, safe_serialization=True)
        readme = directory / "adapters" / adapter / "README.md"
        if readme.exists():
            readme.unlink()
    return kinds


def prompt_rows(directory, adapter):
    from safetensors.torch import load_file
    table = load_file(directory / "adapters" / adapter / "adapter_model.safetensors")["prompt_embeddings"]
    n = json.loads((directory / "adapters" / adapter / "adapter_config.json").read_text())["num_virtual_tokens"]
    return table[:n].float()


def embeds_with_prompt(model, rows, ids):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embedded = base.shared(torch.tensor([ids]))
    return torch.cat([rows[None], embedded], dim=1)


def main():
    logits_by_model = {}
    for m_index, (name, spec) in enumerate(MODELS.items()):
        directory = make_base(name, spec, seed=1000 + m_index)
        base = load_base(directory)
        cases, logits = [], {}

        def record(case_id, adapters, text, params, want_logits, model, embeds_fn=None):
            ids = tokenizer(text).input_ids
            embeds = embeds_fn(ids) if embeds_fn else None
            tokens, margin = generate(model, ids=None if embeds is not None else ids, embeds=embeds, params=params)
            if want_logits:
                logits[case_id] = first_logits(model, ids=None if embeds is not None else ids, embeds=embeds)
            if margin is not None and margin < 1e-3:
                print(f"WARNING {name}/{case_id}: greedy margin {margin:.2e}")
            cases.append({"id": case_id, "adapters": adapters, "text": text, "input_ids": ids, "params": params,
                          "token_ids": tokens, "min_margin": margin, "logits": want_logits})

        for case_id, text, params, want_logits in BASE_CASES:
            record(case_id, [], text, params, want_logits, base)

        kinds = make_adapters(name, directory, seed=2000 + 10 * m_index)
        for adapter, kind in kinds.items():
            model = PeftModel.from_pretrained(load_base(directory), directory / "adapters" / adapter).eval()
            record(f"{adapter}-greedy-d0", [adapter], LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 20}, True, model)
            record(f"{adapter}-greedy-d1", [adapter], LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 20}, False, model)
            record(f"{adapter}-beam-d2", [adapter], LAB.format(dialogue=dialogues[2]), {"max_new_tokens": 16, "num_beams": 3}, False, model)
            if kind == "prompt":
                # The manual reference for stacking must reproduce PEFT for the prompt alone.
                rows = prompt_rows(directory, adapter)
                ids = tokenizer(LAB.format(dialogue=dialogues[0])).input_ids
                manual, _ = generate(load_base(directory), embeds=embeds_with_prompt(load_base(directory), rows, ids), params={"max_new_tokens": 20})
                assert manual == cases[-3]["token_ids"], f"manual prompt reference differs from PEFT for {adapter}"

        # LoRA + soft prompt stacked (PEFT cannot hold both): the LoRA model fed the prompt rows.
        lora = next(a for a, k in kinds.items() if k == "lora")
        prompt = next(a for a, k in kinds.items() if k == "prompt")
        rows = prompt_rows(directory, prompt)
        model = PeftModel.from_pretrained(load_base(directory), directory / "adapters" / lora).eval()
        for i in (0, 1):
            record(f"{lora}+{prompt}-greedy-d{i}", [lora, prompt], LAB.format(dialogue=dialogues[i]), {"max_new_tokens": 20},
                   i == 0, model, embeds_fn=lambda ids: embeds_with_prompt(model, rows, ids))

        save_file(logits, directory / "logits.safetensors")
        expected = {"model": name, "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                                "peft": peft.__version__}, "cases": cases}
        (directory / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        margins = [c["min_margin"] for c in cases if c["min_margin"] is not None]
        print(f"{name}: {len(cases)} cases, min greedy margin {min(margins):.4f}")


if __name__ == "__main__":
    main()
