"""Builds PEFT adapters of the methods beyond LoRA and soft prompts (IA3, DoRA, AdaLoRA, prefix
tuning) for the committed tiny checkpoints, and PeftModel outputs for them. Run with the reference
venv:

    bash scripts/reference/setup-venv.sh
    .venv-ref/bin/python scripts/reference/make_method_fixtures.py

The tiny checkpoints (Tests/Fixtures/models/<model>/model.safetensors) and the adapters that
make_model_fixtures.py writes are read, never rewritten: their bytes are pinned by other tests.
This script writes only adapters/<method-...>/, expected-methods.json and logits-methods.safetensors.

Adapters start from PEFT's own initialisation (get_peft_model) and then get random weights, rounded
to bf16 so they stay small and exact in any format: IA3 vectors around one (not all ones), DoRA
magnitudes perturbed away from the weight norms, AdaLoRA singular values (lora_E) non-zero with a
saved rank_pattern that prunes some triplets. Each is saved with save_pretrained (safetensors) and
the references are generated from the saved files through PeftModel.from_pretrained, exactly as a
user loads them. Deterministic: re-running rewrites identical files (the script re-runs itself
with PYTHONHASHSEED=0, as PEFT writes target_modules from a set).
"""
import json
import os
import pathlib
import shutil
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

import torch
import peft
import transformers
from peft import AdaLoraConfig, IA3Config, LoraConfig, PeftModel, PrefixTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# Shared with the LoRA/soft-prompt fixtures (importing it writes nothing).
from make_model_fixtures import LAB, OUT, bf16, dialogues, first_logits, generate, load_base, prompt_rows, tokenizer  # noqa: E402

ALL_FLAN = ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]


def prefix_sizes(model_name):
    """PEFT sizes a prefix from config.num_layers (the ENCODER's layer count for T5) and
    d_model / num_heads as the head size. Neither fixture model fits that (tiny-flan has 3 decoder
    layers and 2 encoder layers; tiny-t5v1 has num_heads * d_kv = 16 != d_model = 32), and PEFT then
    fails (IndexError / size mismatch). Given explicitly, as a user of such a model must, PEFT runs."""
    cfg = json.loads((OUT / model_name / "config.json").read_text())
    return dict(num_layers=cfg["num_decoder_layers"], num_attention_heads=cfg["num_heads"],
                token_dim=cfg["num_heads"] * cfg["d_kv"])


def specs(model_name):
    seq = TaskType.SEQ_2_SEQ_LM
    prefix = prefix_sizes(model_name)
    if model_name == "tiny-flan":
        return {
            "ia3-default": IA3Config(task_type=seq, target_modules=["k", "v", "wo"], feedforward_modules=["wo"]),
            "ia3-all": IA3Config(task_type=seq, target_modules=ALL_FLAN, feedforward_modules=["wi_1", "wo"]),
            "dora-qv": LoraConfig(task_type=seq, r=8, lora_alpha=16, target_modules=["q", "v"], use_dora=True),
            "dora-all-rslora": LoraConfig(task_type=seq, r=4, lora_alpha=8, use_rslora=True, target_modules=ALL_FLAN,
                                          use_dora=True),
            "adalora-qvwo": AdaLoraConfig(task_type=seq, init_r=6, target_r=4, lora_alpha=16, total_step=100,
                                          target_modules=["q", "v", "wo"]),
            "prefix-6": PrefixTuningConfig(task_type=seq, num_virtual_tokens=6, **prefix),
            "prefix-proj-4": PrefixTuningConfig(task_type=seq, num_virtual_tokens=4, prefix_projection=True,
                                                encoder_hidden_size=24, **prefix),
        }
    return {
        "ia3-default": IA3Config(task_type=seq, target_modules=["k", "v", "wo"], feedforward_modules=["wo"]),
        "dora-qv": LoraConfig(task_type=seq, r=8, lora_alpha=16, target_modules=["q", "v"], use_dora=True),
        "adalora-qv": AdaLoraConfig(task_type=seq, init_r=4, target_r=2, lora_alpha=8, total_step=100,
                                    target_modules=["q", "v"]),
        "prefix-proj-5": PrefixTuningConfig(task_type=seq, num_virtual_tokens=5, prefix_projection=True,
                                            encoder_hidden_size=16, **prefix),
    }


def randomise(model, config, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ia3_l" in name:
                p.copy_(bf16(1 + 0.5 * torch.randn(p.shape, generator=g)))
            elif "lora_magnitude_vector" in name:
                # Initialised to ||W|| (B = 0); move it off so the scale m / ||W + sBA|| matters.
                p.copy_(bf16(p * (1 + 0.3 * torch.randn(p.shape, generator=g))))
            elif "lora_E" in name:
                p.copy_(bf16(torch.randn(p.shape, generator=g)))
            elif "lora_A" in name or "lora_B" in name:
                p.copy_(bf16(torch.randn(p.shape, generator=g) * 0.3))
            elif "prompt_encoder" in name:
                # Prefix table, or the projection MLP's weights; PEFT saves the MLP's output.
                p.copy_(bf16(torch.randn(p.shape, generator=g) * (0.5 if p.dim() > 1 and p.shape[0] != 1 else 1.0)))
    if isinstance(config, AdaLoraConfig):
        # A rank pattern as RankAllocator.mask_to_budget records it (names of the T5 model's lora_E
        # parameters, with the adapter name stripped by save_pretrained): keep a random subset of
        # each module's triplets, at least one, so the saved tensors are pruned to varied ranks.
        pattern = {}
        for name, p in model.base_model.model.named_parameters():
            if "lora_E" in name:
                keep = (torch.rand(p.shape[0], generator=g) < 0.6).tolist()
                keep[int(torch.randint(p.shape[0], (1,), generator=g))] = True
                pattern[name] = keep
        model.peft_config["default"].rank_pattern = pattern


def main():
    for m_index, name in enumerate(["tiny-flan", "tiny-t5v1"]):
        directory = OUT / name
        cases, logits = [], {}

        def record(case_id, adapters, text, params, want_logits, model, embeds_fn=None):
            ids = tokenizer(text).input_ids
            embeds = embeds_fn(ids) if embeds_fn else None
            tokens, margin = generate(model, ids=None if embeds is not None else ids, embeds=embeds, params=params,
                                      use_cache=any(a.startswith("prefix") for a in adapters))
            if want_logits:
                logits[case_id] = first_logits(model, ids=None if embeds is not None else ids, embeds=embeds)
            if margin is not None and margin < 1e-3:
                print(f"WARNING {name}/{case_id}: greedy margin {margin:.2e}")
            cases.append({"id": case_id, "adapters": adapters, "text": text, "input_ids": ids, "params": params,
                          "token_ids": tokens, "min_margin": margin, "logits": want_logits})

        kinds = {}
        for i, (adapter, config) in enumerate(specs(name).items()):
            model = get_peft_model(load_base(directory), config)
            randomise(model, config, seed=5000 + 100 * m_index + i)
            target = directory / "adapters" / adapter
            if target.exists():
                shutil.rmtree(target)
            model.save_pretrained(target, safe_serialization=True)
            (target / "README.md").unlink(missing_ok=True)
            kinds[adapter] = {"prefix": "prefix_tuning"}.get(adapter.split("-")[0], adapter.split("-")[0])

        for adapter in kinds:
            model = PeftModel.from_pretrained(load_base(directory), directory / "adapters" / adapter).eval()
            record(f"{adapter}-greedy-d0", [adapter], LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 20}, True, model)
            record(f"{adapter}-greedy-d1", [adapter], LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 20}, False, model)
            record(f"{adapter}-beam-d2", [adapter], LAB.format(dialogue=dialogues[2]), {"max_new_tokens": 16, "num_beams": 3}, False, model)

        # Stacked with the committed soft prompt. PEFT cannot hold both types at once, so the
        # reference merges the weight adapter into the base (merge_and_unload) and feeds the
        # prompt rows ahead of the embedded ids, as PEFT's prompt tuning does.
        prompt = {"tiny-flan": "prompt-20", "tiny-t5v1": "prompt-8"}[name]
        rows = prompt_rows(directory, prompt)
        for adapter in [a for a, k in kinds.items() if k != "prefix_tuning"]:
            merged = PeftModel.from_pretrained(load_base(directory), directory / "adapters" / adapter).merge_and_unload().eval()
            record(f"{adapter}+{prompt}-greedy-d0", [adapter, prompt], LAB.format(dialogue=dialogues[0]),
                   {"max_new_tokens": 20}, False, merged,
                   embeds_fn=lambda ids: torch.cat([rows[None], merged.shared(torch.tensor([ids]))], dim=1))

        # A LoRA-family adapter stacked with a prefix: the merged weight adapter, then the prefix
        # applied through PEFT on it.
        weight = "dora-qv"
        for adapter in [a for a, k in kinds.items() if k == "prefix_tuning"]:
            merged = PeftModel.from_pretrained(load_base(directory), directory / "adapters" / weight).merge_and_unload().eval()
            model = PeftModel.from_pretrained(merged, directory / "adapters" / adapter).eval()
            record(f"{weight}+{adapter}-greedy-d0", [weight, adapter], LAB.format(dialogue=dialogues[0]),
                   {"max_new_tokens": 20}, False, model)

        save_file(logits, directory / "logits-methods.safetensors")
        expected = {"model": name, "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                                "peft": peft.__version__},
                    "kinds": kinds, "cases": cases}
        (directory / "expected-methods.json").write_text(json.dumps(expected, indent=1) + "\n")
        margins = [c["min_margin"] for c in cases if c["min_margin"] is not None]
        print(f"{name}: {len(cases)} cases, min greedy margin {min(margins):.4f}")


if __name__ == "__main__":
    main()
