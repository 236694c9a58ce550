"""Records the references for per-request LoRA combination (`"adapter": {"combine": [...]}` on
/v1/summarize). Run with the reference venv:

    bash scripts/reference/setup-venv.sh
    .venv-ref/bin/python scripts/reference/make_combine_fixtures.py

Reads the tiny bases and adapters of Tests/Fixtures/models (make_model_fixtures.py) and writes
Tests/Fixtures/combine/:

  adapters/<model>/<name>/  LoRAs made here so that tiny-t5v1 has a partner with other target
                            modules and rank (its only LoRA targets q and v).
  expected.json             per case: the members and weights, and the tokens PEFT generates
                            (greedy and beam) with the weighted sum of the members' deltas.

Two independent PEFT references are computed for every case and must agree token for token:
  - `cat`: add_weighted_adapter(..., combination_type="cat") (PEFT's own concatenation), and
  - `sum`: every member loaded into one PeftModel, all active at once (set_adapter([...])),
    each module's scaling[member] multiplied by the member's weight, so the forward adds
    sum_i w_i * s_i * B_i A_i without any concatenation.
Where PEFT's `cat` is not the weighted sum of the deltas (its first adapter's use_rslora,
layers_to_transform and exclude_modules are kept for the new adapter) or refuses the members
(list and regex target_modules mixed), the case names `cat_order`: the order in which `cat` is
the exact sum, and records what `cat` does in the request's own order under `peft_cat_as_given`.
Deterministic: re-running rewrites identical files.
"""
import json
import pathlib
import shutil
import sys

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft.tuners.lora import LoraLayer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_model_fixtures as mm  # noqa: E402  (tokenizer, dialogues, generate, bf16 helpers)

MODELS = mm.OUT
OUT = mm.ROOT / "Tests/Fixtures/combine"

EXTRA_ADAPTERS = {  # model -> name -> config; random bf16 values like make_model_fixtures' LoRAs
    "tiny-t5v1": {"lora-ffn": LoraConfig(r=4, lora_alpha=8, target_modules=["k", "o", "wi", "wo"], task_type=TaskType.SEQ_2_SEQ_LM)},
}

# (model, id, [(member, weight)] in request order, cat_order or None when the request order is fine)
CASES = [
    ("tiny-flan", "qv-patterns", [("lora-qv", 0.7), ("lora-patterns", 0.3)], None),
    ("tiny-flan", "three-negative-rslora", [("lora-qv", 0.5), ("lora-patterns", -0.4), ("lora-all-rslora", 0.6)], None),
    ("tiny-flan", "rslora-first", [("lora-all-rslora", 0.6), ("lora-qv", 0.5)], ["lora-qv", "lora-all-rslora"]),
    ("tiny-flan", "patterns-first", [("lora-patterns", 0.3), ("lora-qv", 0.7)], ["lora-qv", "lora-patterns"]),
    ("tiny-flan", "regex-and-list", [("lora-regex", 0.7), ("lora-qv", 0.3)], None),
    ("tiny-flan", "single", [("lora-qv", 0.5)], None),
    ("tiny-t5v1", "qv-ffn", [("lora-qv", 0.7), ("lora-ffn", 0.3)], None),
]
PROMPTS = [("greedy-d0", 0, {"max_new_tokens": 20}), ("greedy-d1", 1, {"max_new_tokens": 20}),
           ("beam3-d2", 2, {"max_new_tokens": 16, "num_beams": 3})]


def adapter_dir(model, name):
    local = MODELS / model / "adapters" / name
    return local if local.exists() else OUT / "adapters" / model / name


def make_extra_adapters():
    for model, specs in EXTRA_ADAPTERS.items():
        for i, (name, config) in enumerate(specs.items()):
            peft_model = get_peft_model(mm.load_base(MODELS / model), config)
            mm.randomise_lora(peft_model, 9000 + i)
            target = OUT / "adapters" / model / name
            if target.exists():
                shutil.rmtree(target)
            peft_model.save_pretrained(target, safe_serialization=True)
            (target / "README.md").unlink(missing_ok=True)


def with_members(model, names):
    m = PeftModel.from_pretrained(mm.load_base(MODELS / model), adapter_dir(model, names[0]), adapter_name=names[0])
    for name in names[1:]:
        m.load_adapter(adapter_dir(model, name), adapter_name=name)
    return m


def run(m):
    m.eval()  # adapters added after loading have their dropout in training mode
    out = []
    for case_id, d, params in PROMPTS:
        ids = mm.tokenizer(mm.LAB.format(dialogue=mm.dialogues[d])).input_ids
        tokens, margin = mm.generate(m, ids=ids, params=params)
        out.append({"id": case_id, "dialogue": mm.dialogues[d], "input_ids": ids, "params": params,
                    "token_ids": tokens, "min_margin": margin})
    return out


def cat(model, members, order):
    weights = dict(members)
    m = with_members(model, order)
    m.add_weighted_adapter(order, [weights[n] for n in order], "combined", combination_type="cat")
    m.set_adapter("combined")
    return run(m)


def weighted_sum(model, members):
    names = [n for n, _ in members]
    m = with_members(model, names)
    m.base_model.set_adapter(names)
    for module in m.modules():
        if isinstance(module, LoraLayer):
            for name, w in members:
                if name in module.scaling:
                    module.scaling[name] *= w
    return run(m)


def tokens(cases):
    return [c["token_ids"] for c in cases]


def main():
    make_extra_adapters()
    records = []
    for model, case_id, members, cat_order in CASES:
        names = [n for n, _ in members]
        exact = weighted_sum(model, members)
        record = {"model": model, "id": case_id, "members": [{"name": n, "weight": w} for n, w in members]}
        try:
            as_given = cat(model, members, names)
        except ValueError as e:
            as_given = None
            record["peft_cat_as_given"] = {"error": str(e)}
        if cat_order:
            reordered = cat(model, members, cat_order)
            assert tokens(reordered) == tokens(exact), f"{case_id}: cat in {cat_order} is not the weighted sum"
            record["cat_order"] = cat_order
            record["peft_cat_as_given"] = {"token_ids": tokens(as_given)}
            print(f"{case_id}: cat as given {'equals' if tokens(as_given) == tokens(exact) else 'differs from'} the sum")
        elif as_given is not None:
            assert tokens(as_given) == tokens(exact), f"{case_id}: PEFT's cat and the weighted sum disagree"
        record["cases"] = exact
        margins = [c["min_margin"] for c in exact if c["min_margin"] is not None]
        print(f"{model}/{case_id}: min greedy margin {min(margins):.4f}, tokens {exact[0]['token_ids'][:6]}...")
        records.append(record)
    versions = {"torch": torch.__version__, "transformers": mm.transformers.__version__, "peft": mm.peft.__version__}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "expected.json").write_text(json.dumps({"versions": versions, "combinations": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
