"""Records PEFT's merge_and_unload() and add_weighted_adapter(cat|linear) on the tiny fixture
models as the reference for `adapter-serve merge`. Run with the reference venv:

    bash scripts/reference/setup-venv.sh
    .venv-ref/bin/python scripts/reference/make_merge_fixtures.py [--adapter-serve .build/debug/adapter-serve]

Reads Tests/Fixtures/models (bases and adapters made by make_model_fixtures.py) and writes
Tests/Fixtures/merge/<model>/:

  adapters/<name>/      extra LoRAs made here (same configs as existing ones, other random values)
                        so that `linear` (equal ranks) and `cat` of two list-targeted LoRAs have
                        partners.
  merged/<adapter>/     merge_and_unload() in float32 of the base with that LoRA:
      changed.safetensors   every tensor the merge changed, in full (F32): only the targeted
                            Linear weights, which are small on these models.
      expected.json         the checkpoint's tensor names, which ones changed, and the tokens
                            transformers generates from the merged model saved with
                            save_pretrained and loaded back (asserted equal to PEFT with the
                            adapter before anything is written).
  combined/<id>/        add_weighted_adapter(..., combination_type=cat|linear) saved with
                        save_pretrained: PEFT's own adapter_config.json and adapter_model.safetensors,
                        plus expected.json with the inputs and the tokens PEFT generates with the
                        combined adapter (and again after reloading the saved adapter).
  combine-errors.json   combinations PEFT refuses, with PEFT's message.

With --adapter-serve, the script also runs our binary's merge on every case, checks each
tensor against PEFT (1e-6 of the tensor's largest |value|) and loads our merged snapshot into
transformers to check it generates PEFT's tokens. CI never runs this; the Swift tests compare
with the committed files. Deterministic: re-running rewrites identical files.
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import tempfile

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, T5ForConditionalGeneration

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "Tests/Fixtures/models"
OUT = ROOT / "Tests/Fixtures/merge"
LAB = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
torch.set_num_threads(2)
tokenizer = AutoTokenizer.from_pretrained(ROOT / "assets/flan-t5-base")
dialogues = [json.loads(l)["dialogue"] for l in (ROOT / "assets/dialogsum/dialogsum.test.jsonl").read_text().splitlines()[:3]]
CASES = [("greedy-d0", LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 20}),
         ("greedy-d1", LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 20}),
         ("beam3-d2", LAB.format(dialogue=dialogues[2]), {"max_new_tokens": 16, "num_beams": 3})]
VERSIONS = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}

EXTRA_ADAPTERS = {
    "tiny-flan": {"lora-regex-b": LoraConfig(r=8, lora_alpha=16, target_modules=r".*decoder.*\.(q|v)", task_type=TaskType.SEQ_2_SEQ_LM)},
    "tiny-t5v1": {"lora-qv-b": LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], task_type=TaskType.SEQ_2_SEQ_LM)},
}
MERGES = [("tiny-flan", "lora-qv"), ("tiny-flan", "lora-all-rslora"), ("tiny-flan", "lora-patterns"),
          ("tiny-flan", "lora-regex"), ("tiny-t5v1", "lora-qv")]
COMBINES = [  # (model, id, adapters, weights, combination)
    ("tiny-flan", "cat-regex-pair", ["lora-regex", "lora-regex-b"], [0.7, 0.3], "cat"),
    ("tiny-flan", "cat-qv-patterns", ["lora-qv", "lora-patterns"], [0.7, -0.3], "cat"),
    ("tiny-flan", "cat-rslora-first", ["lora-all-rslora", "lora-qv"], [0.5, 0.5], "cat"),
    ("tiny-flan", "cat-patterns-first", ["lora-patterns", "lora-qv"], [0.7, 0.3], "cat"),
    ("tiny-flan", "linear-regex", ["lora-regex", "lora-regex-b"], [0.7, 0.3], "linear"),
    ("tiny-flan", "linear-regex-negative", ["lora-regex", "lora-regex-b"], [0.6, -0.4], "linear"),
    ("tiny-t5v1", "cat-qv", ["lora-qv", "lora-qv-b"], [0.7, 0.3], "cat"),
    ("tiny-t5v1", "linear-qv", ["lora-qv", "lora-qv-b"], [1.0, 0.5], "linear"),
]
COMBINE_ERRORS = [
    ("tiny-flan", "linear-unequal-ranks", ["lora-qv", "lora-regex"], [0.5, 0.5], "linear"),
    ("tiny-flan", "cat-list-and-regex", ["lora-regex", "lora-qv"], [0.5, 0.5], "cat"),
]


def bf16(t):
    return t.to(torch.bfloat16).float()


def adapter_dir(model, name):
    local = MODELS / model / "adapters" / name
    return local if local.exists() else OUT / model / "adapters" / name


def load_base(model):
    return T5ForConditionalGeneration.from_pretrained(MODELS / model, dtype=torch.float32).eval()


def generate(model, text, params):
    ids = tokenizer(text).input_ids
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([ids]), use_cache=False, do_sample=False, **params)
    tokens = out[0, 1:].tolist()
    while tokens and tokens[-1] == 0 and params.get("num_beams", 1) > 1:
        tokens.pop()
    return ids, tokens


def cases(model):
    out = []
    for case_id, text, params in CASES:
        ids, tokens = generate(model, text, params)
        out.append({"id": case_id, "text": text, "input_ids": ids, "params": params, "token_ids": tokens})
    return out


def make_extra_adapters():
    for model, specs in EXTRA_ADAPTERS.items():
        for i, (name, config) in enumerate(specs.items()):
            peft_model = get_peft_model(load_base(model), config)
            g = torch.Generator().manual_seed(7000 + i + (100 if model == "tiny-t5v1" else 0))
            with torch.no_grad():
                for pname, p in peft_model.named_parameters():
                    if "lora_A" in pname or "lora_B" in pname:
                        p.copy_(bf16(torch.randn(p.shape, generator=g) * 0.3))
            target = OUT / model / "adapters" / name
            peft_model.save_pretrained(target, safe_serialization=True)
            (target / "README.md").unlink(missing_ok=True)


def close(ours, theirs):
    bound = 1e-6 * max(float(theirs.abs().max()), 1e-30)
    return float((ours.float() - theirs.float()).abs().max()) <= bound


def make_merge(model, adapter, binary):
    base_tensors = load_file(MODELS / model / "model.safetensors")
    with_adapter = PeftModel.from_pretrained(load_base(model), adapter_dir(model, adapter)).eval()
    reference = cases(with_adapter)
    merged = with_adapter.merge_and_unload()
    state = {k: v.detach().float().contiguous() for k, v in merged.state_dict().items()}
    changed = {k: state[k] for k in base_tensors if not torch.equal(state[k], base_tensors[k].float())}
    with tempfile.TemporaryDirectory() as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        reloaded = T5ForConditionalGeneration.from_pretrained(tmp, dtype=torch.float32).eval()
        assert cases(reloaded) == reference, f"{model}/{adapter}: merged model generates other tokens than PEFT"
    target = OUT / model / "merged" / adapter
    target.mkdir(parents=True, exist_ok=True)
    save_file(changed, target / "changed.safetensors", metadata={"format": "pt"})
    expected = {"model": model, "adapter": adapter, "versions": VERSIONS, "tensors": sorted(base_tensors),
                "changed": sorted(changed), "cases": reference}
    (target / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    if binary:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([binary, "merge", "--model", str(MODELS / model), "--adapter", str(adapter_dir(model, adapter)),
                            "--out", tmp], check=True)
            ours = load_file(pathlib.Path(tmp) / "model.safetensors")
            for k in base_tensors:
                assert close(ours[k], state[k]), f"adapter-serve merge {model}/{adapter}: {k} differs from PEFT"
            mine = T5ForConditionalGeneration.from_pretrained(tmp, dtype=torch.float32).eval()
            assert cases(mine) == reference, f"adapter-serve merge {model}/{adapter}: transformers generates other tokens"
    print(f"merge {model}/{adapter}: {len(changed)} tensors changed, tokens {reference[0]['token_ids'][:6]}...")


def peft_with(model, adapters):
    m = PeftModel.from_pretrained(load_base(model), adapter_dir(model, adapters[0]), adapter_name="a0")
    for i, name in enumerate(adapters[1:], start=1):
        m.load_adapter(adapter_dir(model, name), adapter_name=f"a{i}")
    return m.eval()


def make_combine(model, case_id, adapters, weights, combination, binary):
    m = peft_with(model, adapters)
    m.add_weighted_adapter([f"a{i}" for i in range(len(adapters))], weights, "combined", combination_type=combination)
    m.set_adapter("combined")
    # The new adapter's lora_dropout modules are created in training mode: eval() again.
    m.eval()
    reference = cases(m)
    target = OUT / model / "combined" / case_id
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory() as tmp:
        m.save_pretrained(tmp, selected_adapters=["combined"], safe_serialization=True)
        saved = pathlib.Path(tmp) / "combined"
        reloaded = PeftModel.from_pretrained(load_base(model), saved).eval()
        assert cases(reloaded) == reference, f"{case_id}: the saved combined adapter generates other tokens"
        target.mkdir(parents=True)
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(saved / f, target / f)
    expected = {"model": model, "adapters": adapters, "weights": weights, "combination": combination,
                "versions": VERSIONS, "cases": reference}
    (target / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    if binary:
        with tempfile.TemporaryDirectory() as tmp:
            args = [binary, "merge", "--weights", ",".join(map(str, weights)), "--combination", combination, "--out", tmp]
            for a in adapters:
                args += ["--adapter", str(adapter_dir(model, a))]
            subprocess.run(args, check=True)
            ours, theirs = load_file(pathlib.Path(tmp) / "adapter_model.safetensors"), load_file(target / "adapter_model.safetensors")
            assert sorted(ours) == sorted(theirs), f"{case_id}: tensor names differ"
            for k in theirs:
                assert ours[k].shape == theirs[k].shape and close(ours[k], theirs[k]), f"{case_id}: {k} differs from PEFT"
            mine = PeftModel.from_pretrained(load_base(model), tmp).eval()
            assert cases(mine) == reference, f"{case_id}: PEFT generates other tokens with our combined adapter"
    print(f"combine {model}/{case_id}: tokens {reference[0]['token_ids'][:6]}...")


def make_combine_error(model, case_id, adapters, weights, combination):
    m = peft_with(model, adapters)
    try:
        m.add_weighted_adapter([f"a{i}" for i in range(len(adapters))], weights, "combined", combination_type=combination)
    except (ValueError, TypeError, RuntimeError) as e:
        return {"model": model, "id": case_id, "adapters": adapters, "weights": weights, "combination": combination,
                "peft_error": str(e)}
    raise AssertionError(f"{case_id}: PEFT accepted the combination")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapter-serve", help="also check this adapter-serve binary's merge against PEFT")
    args = parser.parse_args()
    make_extra_adapters()
    for model, adapter in MERGES:
        make_merge(model, adapter, args.adapter_serve)
    for spec in COMBINES:
        make_combine(*spec, args.adapter_serve)
    errors = [make_combine_error(*spec) for spec in COMBINE_ERRORS]
    (OUT / "combine-errors.json").write_text(json.dumps({"versions": VERSIONS, "cases": errors}, indent=1) + "\n")


if __name__ == "__main__":
    main()
