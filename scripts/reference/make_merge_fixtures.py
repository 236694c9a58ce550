"""Records PEFT's merge_and_unload() (LoRA, DoRA, AdaLoRA, IA3) and add_weighted_adapter (LoRA and
DoRA with cat|linear, IA3's own weighted sum) on the tiny fixture models as the reference for
`adapter-serve merge`. Run with the reference venv:

    bash scripts/reference/setup-venv.sh
    .venv-ref/bin/python scripts/reference/make_merge_fixtures.py [--adapter-serve .build/debug/adapter-serve]

Reads Tests/Fixtures/models (bases and adapters made by make_model_fixtures.py and
make_method_fixtures.py, whose helpers it imports) and writes
Tests/Fixtures/merge/<model>/:

  adapters/<name>/      extra adapters made here (configs like existing ones, other random values)
                        so that `linear` (equal ranks), `cat` of two list-targeted LoRAs, DoRA and
                        IA3 combinations have partners.
  merged/<adapter>/     merge_and_unload() in float32 of the base with that adapter:
      changed.safetensors   every tensor the merge changed, in full (F32): only the targeted
                            Linear weights, which are small on these models.
      expected.json         the checkpoint's tensor names, which ones changed, and the tokens
                            transformers generates from the merged model saved with
                            save_pretrained and loaded back (asserted equal to PEFT with the
                            adapter before anything is written).
  combined/<id>/        add_weighted_adapter(..., combination_type=cat|linear; IA3: no type) saved with
                        save_pretrained: PEFT's own adapter_config.json and adapter_model.safetensors,
                        plus expected.json with the inputs and the tokens PEFT generates with the
                        combined adapter (and again after reloading the saved adapter).
  combine-errors.json   combinations PEFT refuses (or fails on), with PEFT's message.

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
import sys
import tempfile

import peft
import torch
import transformers
from peft import IA3Config, LoraConfig, PeftModel, TaskType, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import T5ForConditionalGeneration

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# The fixture models' helpers (importing make_method_fixtures re-runs this script once with
# PYTHONHASHSEED=0, as that script needs; nothing is written by the imports).
from make_model_fixtures import LAB, dialogues, generate as generate_tokens, tokenizer  # noqa: E402
from make_model_fixtures import OUT as MODELS, load_base as load_model  # noqa: E402
from make_method_fixtures import randomise  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/merge"
# One thread: these models are tiny, and on a busy machine two threads' barriers cost 100x.
torch.set_num_threads(1)
CASES = [("greedy-d0", LAB.format(dialogue=dialogues[0]), {"max_new_tokens": 20}),
         ("greedy-d1", LAB.format(dialogue=dialogues[1]), {"max_new_tokens": 20}),
         ("beam3-d2", LAB.format(dialogue=dialogues[2]), {"max_new_tokens": 16, "num_beams": 3})]
VERSIONS = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}

SEQ = TaskType.SEQ_2_SEQ_LM
EXTRA_ADAPTERS = {  # name -> config; the seed is 7000 + index (+100 on tiny-t5v1)
    "tiny-flan": {"lora-regex-b": LoraConfig(r=8, lora_alpha=16, target_modules=r".*decoder.*\.(q|v)", task_type=SEQ),
                  "dora-qv-b": LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], use_dora=True, task_type=SEQ),
                  "ia3-regex": IA3Config(target_modules=r".*encoder.*\.(k|wo)", feedforward_modules=r".*\.wo", task_type=SEQ),
                  "ia3-regex-b": IA3Config(target_modules=r".*\.(v|wo)", feedforward_modules=r".*\.wo", task_type=SEQ),
                  # wo scaled on its output here, on its input in ia3-default (and k the other way
                  # round): PEFT cannot add the two vector shapes.
                  "ia3-wo-output": IA3Config(target_modules=["k", "v", "wo"], feedforward_modules=["k"], task_type=SEQ)},
    "tiny-t5v1": {"lora-qv-b": LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], task_type=SEQ),
                  "ia3-qwi": IA3Config(target_modules=["q", "wi", "wo"], feedforward_modules=["wi", "wo"], task_type=SEQ)},
}
MERGES = [("tiny-flan", "lora-qv"), ("tiny-flan", "lora-all-rslora"), ("tiny-flan", "lora-patterns"),
          ("tiny-flan", "lora-regex"), ("tiny-t5v1", "lora-qv"),
          ("tiny-flan", "dora-qv"), ("tiny-flan", "dora-all-rslora"), ("tiny-t5v1", "dora-qv"),
          ("tiny-flan", "adalora-qvwo"), ("tiny-t5v1", "adalora-qv"),
          ("tiny-flan", "ia3-all"), ("tiny-flan", "ia3-default"), ("tiny-t5v1", "ia3-default")]
COMBINES = [  # (model, id, adapters, weights, combination)
    ("tiny-flan", "cat-regex-pair", ["lora-regex", "lora-regex-b"], [0.7, 0.3], "cat"),
    ("tiny-flan", "cat-qv-patterns", ["lora-qv", "lora-patterns"], [0.7, -0.3], "cat"),
    ("tiny-flan", "cat-rslora-first", ["lora-all-rslora", "lora-qv"], [0.5, 0.5], "cat"),
    ("tiny-flan", "cat-patterns-first", ["lora-patterns", "lora-qv"], [0.7, 0.3], "cat"),
    ("tiny-flan", "linear-regex", ["lora-regex", "lora-regex-b"], [0.7, 0.3], "linear"),
    ("tiny-flan", "linear-regex-negative", ["lora-regex", "lora-regex-b"], [0.6, -0.4], "linear"),
    ("tiny-t5v1", "cat-qv", ["lora-qv", "lora-qv-b"], [0.7, 0.3], "cat"),
    ("tiny-t5v1", "linear-qv", ["lora-qv", "lora-qv-b"], [1.0, 0.5], "linear"),
    # DoRA: the combined adapter is DoRA when the first one is; its magnitude is the base's ||W||.
    ("tiny-flan", "cat-dora-first", ["dora-qv", "lora-qv"], [0.7, 0.3], "cat"),
    ("tiny-flan", "linear-dora-pair", ["dora-qv", "dora-qv-b"], [0.6, -0.4], "linear"),
    ("tiny-flan", "cat-lora-first-dora", ["lora-qv", "dora-all-rslora"], [0.5, 0.5], "cat"),
    ("tiny-t5v1", "cat-dora-qv", ["dora-qv", "lora-qv-b"], [0.7, 0.3], "cat"),
    # IA3's add_weighted_adapter (no combination_type): the weighted sum of the vectors.
    ("tiny-flan", "ia3-all-default", ["ia3-all", "ia3-default"], [0.7, 0.3], "ia3"),
    ("tiny-flan", "ia3-regex-pair", ["ia3-regex", "ia3-regex-b"], [1.0, -0.5], "ia3"),
    ("tiny-t5v1", "ia3-default-qwi", ["ia3-default", "ia3-qwi"], [0.5, 0.5], "ia3"),
]
COMBINE_ERRORS = [
    ("tiny-flan", "linear-unequal-ranks", ["lora-qv", "lora-regex"], [0.5, 0.5], "linear"),
    ("tiny-flan", "cat-list-and-regex", ["lora-regex", "lora-qv"], [0.5, 0.5], "cat"),
    ("tiny-flan", "adalora", ["adalora-qvwo", "adalora-qvwo"], [0.5, 0.5], "cat"),
    ("tiny-flan", "ia3-list-and-regex", ["ia3-default", "ia3-regex"], [0.5, 0.5], "ia3"),
    ("tiny-flan", "ia3-feedforward-clash", ["ia3-default", "ia3-wo-output"], [0.5, 0.5], "ia3"),
]


def adapter_dir(model, name):
    local = MODELS / model / "adapters" / name
    return local if local.exists() else OUT / model / "adapters" / name


def load_base(model):
    return load_model(MODELS / model)


def generate(model, text, params):
    ids = tokenizer(text).input_ids
    return ids, generate_tokens(model, ids=ids, params=params)[0]


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
            randomise(peft_model, config, 7000 + i + (100 if model == "tiny-t5v1" else 0))
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


def add_weighted(m, count, weights, combination):
    names = [f"a{i}" for i in range(count)]
    if combination == "ia3":
        m.add_weighted_adapter(names, weights, "combined")
    else:
        m.add_weighted_adapter(names, weights, "combined", combination_type=combination)


def make_combine(model, case_id, adapters, weights, combination, binary):
    m = peft_with(model, adapters)
    add_weighted(m, len(adapters), weights, combination)
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
            args = [binary, "merge", "--weights", ",".join(map(str, weights)), "--out", tmp]
            if combination != "ia3":
                args += ["--combination", combination]
            if json.loads((adapter_dir(model, adapters[0]) / "adapter_config.json").read_text()).get("use_dora"):
                args += ["--model", str(MODELS / model)]
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
    try:
        # IA3 adapters whose feed-forward sets disagree on a module already fail to load together
        # (each layer keeps the first adapter's is_feedforward).
        add_weighted(peft_with(model, adapters), len(adapters), weights, combination)
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
