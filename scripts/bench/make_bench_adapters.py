"""Writes the benchmark's PEFT adapters for a (random) FLAN-T5 base, with PEFT itself.

  lora-0 .. lora-7   LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"]), each with its
                     own random lora_A / lora_B (so none is a no-op and no two are equal)
  prompt-20          PromptTuningConfig(num_virtual_tokens=20), random virtual-token embeddings

Usage: make_bench_adapters.py --model DIR --out DIR [--loras 8]
The base is loaded once; each adapter is attached, randomised, saved and unloaded again.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model
from transformers import T5ForConditionalGeneration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--loras", type=int, default=8)
    ap.add_argument("--seed", type=int, default=4242)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    base = T5ForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    d_model = base.config.d_model
    model_path = str(Path(args.model).resolve())

    for i in range(args.loras):
        name = f"lora-{i}"
        config = LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.0, bias="none",
                            task_type=TaskType.SEQ_2_SEQ_LM)
        peft_model = get_peft_model(base, config)
        g = torch.Generator().manual_seed(args.seed + i)
        with torch.no_grad():
            for pname, p in peft_model.named_parameters():
                # delta W = B A (alpha / r = 1): A ~ N(0, 1/d_in), B ~ N(0, 0.01^2) gives a delta of
                # the order of the random base's q weights: a real, visible change, no overflow.
                if "lora_A" in pname:
                    p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
                elif "lora_B" in pname:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.01)
        peft_model.peft_config["default"].base_model_name_or_path = model_path
        peft_model.save_pretrained(out / name, safe_serialization=True)
        base = peft_model.unload()
        _drop_readme(out / name)
        print(f"wrote {out / name}", file=sys.stderr)

    config = PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=20)
    peft_model = get_peft_model(base, config)
    g = torch.Generator().manual_seed(args.seed + 100)
    with torch.no_grad():
        emb = peft_model.prompt_encoder["default"].embedding.weight
        emb.copy_(torch.randn(emb.shape, generator=g))
    peft_model.peft_config["default"].base_model_name_or_path = model_path
    peft_model.save_pretrained(out / "prompt-20", safe_serialization=True)
    _drop_readme(out / "prompt-20")
    print(f"wrote {out / 'prompt-20'}", file=sys.stderr)
    (out / "DONE").write_text(json.dumps({"loras": args.loras, "prompt": "prompt-20", "d_model": d_model}) + "\n")


def _drop_readme(directory):
    readme = directory / "README.md"
    if readme.exists():
        readme.unlink()


if __name__ == "__main__":
    main()
