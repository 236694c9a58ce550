"""Writes 8 random PEFT adapters of every method for a (random) full-size FLAN-T5 base, with PEFT
itself, for the per-method benchmark rows (scripts/bench/methods.sh):

  lora-<i>     LoraConfig(r=32, lora_alpha=32, q,v)       A ~ N(0, 1/d_in), B ~ N(0, 0.01^2)
  dora-<i>     the same with use_dora=True                 magnitude = ||W + BA||_row * (1 + 0.1 N(0,1))
  adalora-<i>  AdaLoraConfig(init_r=32, q,v)               A, B as LoRA, E ~ N(0,1), a random 3/4 of
                                                           each module's triplets kept (rank_pattern)
  ia3-<i>      IA3Config() (PEFT's T5 default: k, v, wo; wo feed-forward)   l = 1 + 0.1 N(0,1)
  prefix-<i>   PrefixTuningConfig(20 virtual tokens, prefix_projection=False)  N(0, 0.5^2)
  prompt-<i>   PromptTuningConfig(20 virtual tokens)       N(0,1) rows

Usage: make_method_adapters.py --model DIR --out DIR [--count 8]
Each adapter has its own seed, so none is a no-op and no two are equal. The base is loaded once;
weight-changing adapters are attached, randomised, saved and unloaded again.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from peft import (AdaLoraConfig, IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType,
                  get_peft_model)
from transformers import T5ForConditionalGeneration

SEQ = TaskType.SEQ_2_SEQ_LM
METHODS = ("lora", "dora", "adalora", "ia3", "prefix", "prompt")


def config(method, base):
    c = base.config
    if method == "lora":
        return LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.0, task_type=SEQ)
    if method == "dora":
        return LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.0, use_dora=True, task_type=SEQ)
    if method == "adalora":
        return AdaLoraConfig(init_r=32, target_r=24, lora_alpha=32, target_modules=["q", "v"], total_step=1000, task_type=SEQ)
    if method == "ia3":
        return IA3Config(task_type=SEQ)
    if method == "prefix":
        # PEFT sizes the prefix by num_layers and d_model / num_heads; FLAN-T5-base fits both.
        return PrefixTuningConfig(num_virtual_tokens=20, prefix_projection=False, num_layers=c.num_decoder_layers,
                                  num_attention_heads=c.num_heads, token_dim=c.num_heads * c.d_kv, task_type=SEQ)
    return PromptTuningConfig(num_virtual_tokens=20, task_type=SEQ)


def randomise(model, method, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            elif "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)
            elif "lora_E" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif "ia3_l" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif "prompt_encoder" in name:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if method == "prefix" else 1.0))
        if method == "dora":
            # PEFT initialised the magnitude with B = 0; recompute it for the random B, then move it off.
            for module in model.modules():
                if hasattr(module, "lora_magnitude_vector") and "default" in getattr(module, "lora_magnitude_vector", {}):
                    w = module.get_base_layer().weight
                    delta = module.lora_B["default"].weight @ module.lora_A["default"].weight * module.scaling["default"]
                    m = module.lora_magnitude_vector["default"].weight
                    m.copy_((w + delta).norm(dim=1) * (1 + 0.1 * torch.randn(m.shape, generator=g)))
    if method == "adalora":
        pattern = {}
        for name, p in model.base_model.model.named_parameters():
            if "lora_E" in name:
                keep = (torch.rand(p.shape[0], generator=g) < 0.75).tolist()
                keep[0] = True
                pattern[name] = keep
        model.peft_config["default"].rank_pattern = pattern


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5151)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    base = T5ForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    model_path = str(Path(args.model).resolve())
    for m_index, method in enumerate(METHODS):
        for i in range(args.count):
            name = f"{method}-{i}"
            peft_model = get_peft_model(base, config(method, base))
            randomise(peft_model, method, torch.Generator().manual_seed(args.seed + 100 * m_index + i))
            peft_model.peft_config["default"].base_model_name_or_path = model_path
            peft_model.save_pretrained(out / name, safe_serialization=True)
            (out / name / "README.md").unlink(missing_ok=True)
            if method in ("prefix", "prompt"):
                base = peft_model.get_base_model()   # the wrapper leaves the base's modules alone
            else:
                base = peft_model.unload()
            print(f"wrote {out / name}", file=sys.stderr)
    (out / "DONE").write_text(json.dumps({"methods": METHODS, "count": args.count}) + "\n")


if __name__ == "__main__":
    main()
