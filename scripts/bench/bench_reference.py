"""The reference systems of the benchmark, one measurement per process.

  input-ids     --model DIR --data JSONL --tokens 256 --out FILE
                The benchmark input: the first DialogSum dialogue whose lab prompt is at least
                TOKENS tokens, truncated as the tokenizer truncates (TOKENS-1 pieces + </s>);
                also its text when that re-tokenizes to the same ids.
  transformers  --model DIR --ids FILE --batch B --new-tokens N --repeat R
                T5ForConditionalGeneration fp32, torch.set_num_threads(2), greedy,
                min_new_tokens = max_new_tokens = N; batch B = one padded batch of B copies.
  ct2           --ct2-model DIR --tokenizer DIR --ids FILE --batch B --new-tokens N --repeat R
                ctranslate2.Translator(intra_threads=2, inter_threads=1), translate_batch with
                beam_size=1, min_decoding_length = max_decoding_length = N.
  sanity        --model DIR --ct2-model DIR --ids FILE --tokens K
                The first K greedy tokens of transformers fp32 and CTranslate2 fp32.
  ct2-groups    --ct2-model DIR --tokenizer DIR --sequences FILE --group 8 --new-tokens N
                The HTTP load benchmark's baseline (serve_load.py): FILE holds {"levels": {name:
                [[id, ...], ...]}}, each level's inputs in the order the server received them.
                After a warm-up group, each level is translated with translate_batch in
                consecutive groups of up to GROUP inputs, in that order (no reordering by length),
                min_decoding_length = max_decoding_length = N. Prints per-level seconds and
                summaries/s.

Each timed command does one warm-up and then R timed runs, and prints one JSON object:
latency_s (median seconds per batch), throughput (sequences per second at the median),
min/max, new tokens actually produced per sequence, and rss_bytes / peak_rss_bytes.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def read_ids(path):
    with open(path) as f:
        ids = json.load(f)["input_ids"]
    assert ids and all(isinstance(i, int) for i in ids)
    return ids


def timed(run, repeat):
    run()  # warm-up
    times, produced = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        produced = run()
        times.append(time.perf_counter() - start)
    return times, produced


def summary(system, mode, batch, new_tokens, ids, times, produced, extra=None):
    median = statistics.median(times)
    out = {
        "system": system, "mode": mode, "batch": batch, "input_tokens": len(ids), "new_tokens": new_tokens,
        "produced_tokens": produced, "repeat": len(times), "times_s": times,
        "latency_s": median, "throughput": batch / median, "min_latency_s": min(times), "max_latency_s": max(times),
        "rss_bytes": rss_bytes(), "peak_rss_bytes": peak_rss_bytes(),
    }
    out.update(extra or {})
    return out


def cmd_input_ids(args):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    lab = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
    with open(args.data) as f:
        for line in f:
            row = json.loads(line)
            full = tok(lab.format(dialogue=row["dialogue"])).input_ids
            if len(full) >= args.tokens:
                ids = tok(lab.format(dialogue=row["dialogue"]), truncation=True, max_length=args.tokens).input_ids
                assert len(ids) == args.tokens and ids[-1] == tok.eos_token_id, (len(ids), ids[-1])
                # The same input as text (for `adapter-serve generate --text`, which appends </s>),
                # kept only if the tokenizer maps it back to exactly these ids.
                text = tok.decode(ids[:-1])
                roundtrip = tok(text).input_ids == ids
                with open(args.out, "w") as o:
                    json.dump({"input_ids": ids, "source": row["fname"], "full_tokens": len(full),
                               "text": text if roundtrip else None}, o)
                print(f"input: {row['fname']} ({len(full)} tokens, truncated to {len(ids)})", file=sys.stderr)
                return
    sys.exit(f"no dialogue in {args.data} reaches {args.tokens} tokens")


def load_transformers(model_dir, threads):
    import torch
    from transformers import T5ForConditionalGeneration

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model = T5ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    # FLAN-T5 is untied: its own lm_head, no d_model**-0.5 rescale. transformers 5 forces
    # config.tie_word_embeddings to True for T5 and keeps the real setting in scale_decoder_outputs.
    assert not getattr(model.config, "scale_decoder_outputs", model.config.tie_word_embeddings)
    assert not torch.equal(model.lm_head.weight, model.shared.weight)
    return model


def hf_generate(model, ids, batch, new_tokens):
    import torch

    input_ids = torch.tensor([ids] * batch, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)  # one padded batch; equal lengths, so no padding
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=False, num_beams=1,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return out[:, 1:]  # without the decoder start token


def cmd_transformers(args):
    import torch

    ids = read_ids(args.ids)
    model = load_transformers(args.model, args.threads)

    def run():
        out = hf_generate(model, ids, args.batch, args.new_tokens)
        return int(out.shape[1])

    times, produced = timed(run, args.repeat)
    print(json.dumps(summary("transformers", "fp32", args.batch, args.new_tokens, ids, times, produced,
                             {"torch": torch.__version__, "threads": torch.get_num_threads()})))


def load_ct2(ct2_model, threads, compute_type):
    import ctranslate2

    return ctranslate2.Translator(ct2_model, device="cpu", compute_type=compute_type,
                                  intra_threads=threads, inter_threads=1)


def ct2_translate(translator, tokens, batch, new_tokens):
    # No target_prefix: the converter stores FLAN's decoder_start_token (<pad>) in config.json and
    # the translator starts from it, as transformers' generate does.
    return translator.translate_batch([tokens] * batch, beam_size=1, max_batch_size=batch,
                                      max_decoding_length=new_tokens, min_decoding_length=new_tokens)


def cmd_ct2(args):
    import ctranslate2
    from transformers import AutoTokenizer

    ids = read_ids(args.ids)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    tokens = tok.convert_ids_to_tokens(ids)
    translator = load_ct2(args.ct2_model, args.threads, args.compute_type)

    def run():
        results = ct2_translate(translator, tokens, args.batch, args.new_tokens)
        lengths = {len(r.hypotheses[0]) for r in results}
        return min(lengths)

    times, produced = timed(run, args.repeat)
    mode = {"float32": "fp32", "int8": "int8", "int8_float32": "int8"}.get(args.compute_type, args.compute_type)
    print(json.dumps(summary("CTranslate2", mode, args.batch, args.new_tokens, ids, times, produced,
                             {"ctranslate2": ctranslate2.__version__, "compute_type": translator.compute_type,
                              "threads": args.threads})))


def cmd_ct2_groups(args):
    import ctranslate2
    from transformers import AutoTokenizer

    levels = json.loads(open(args.sequences).read())["levels"]
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    translator = load_ct2(args.ct2_model, args.threads, args.compute_type)

    def translate(group):
        results = translator.translate_batch(group, beam_size=1, max_batch_size=len(group),
                                             max_decoding_length=args.new_tokens,
                                             min_decoding_length=args.new_tokens)
        return [len(r.hypotheses[0]) for r in results]

    inputs = {name: [tok.convert_ids_to_tokens(ids) for ids in seqs] for name, seqs in levels.items()}
    first = next(iter(inputs.values()))
    translate(first[: args.group])  # warm-up
    out = {}
    for name, seqs in inputs.items():
        produced, start = [], time.perf_counter()
        for i in range(0, len(seqs), args.group):
            produced += translate(seqs[i: i + args.group])
        seconds = time.perf_counter() - start
        out[name] = {"sequences": len(seqs), "seconds": seconds, "throughput": len(seqs) / seconds,
                     "produced_min": min(produced), "produced_max": max(produced),
                     "input_tokens": sum(len(s) for s in seqs)}
    mode = {"float32": "fp32", "int8": "int8", "int8_float32": "int8"}.get(args.compute_type, args.compute_type)
    print(json.dumps({"system": "CTranslate2", "mode": mode, "group": args.group, "new_tokens": args.new_tokens,
                      "levels": out, "ctranslate2": ctranslate2.__version__, "compute_type": translator.compute_type,
                      "threads": args.threads, "rss_bytes": rss_bytes(), "peak_rss_bytes": peak_rss_bytes()}))


def cmd_sanity(args):
    """Greedy tokens of both, and the per-token log-probs of transformers' tokens under each
    (teacher-forced; CTranslate2's score_batch), which would expose a wrong logit scale."""
    import torch
    from transformers import AutoTokenizer

    ids = read_ids(args.ids)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = load_transformers(args.model, args.threads)
    hf = hf_generate(model, ids, 1, args.tokens)[0].tolist()
    with torch.inference_mode():
        labels = torch.tensor([hf])
        logits = model(input_ids=torch.tensor([ids]), labels=labels).logits[0]
        hf_logp = torch.log_softmax(logits.double(), dim=-1).gather(1, labels.T)[:, 0].tolist()
    del model
    translator = load_ct2(args.ct2_model, args.threads, "float32")
    source = tok.convert_ids_to_tokens(ids)
    result = ct2_translate(translator, source, 1, args.tokens)[0]
    ct2 = tok.convert_tokens_to_ids(result.hypotheses[0])
    scored = translator.score_batch([source], [tok.convert_ids_to_tokens(hf)])[0]
    ct2_logp = list(scored.log_probs[: len(hf)])  # score_batch appends </s>; compare the shared part
    diff = max(abs(a - b) for a, b in zip(hf_logp, ct2_logp))
    print(json.dumps({"transformers": hf, "ctranslate2": ct2, "match": hf == ct2,
                      "transformers_logprobs": hf_logp, "ctranslate2_logprobs": ct2_logp,
                      "max_logprob_diff": diff}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("input-ids")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--out", required=True)
    for name in ("transformers", "ct2", "sanity"):
        p = sub.add_parser(name)
        p.add_argument("--ids", required=True)
        p.add_argument("--threads", type=int, default=2)
        if name in ("transformers", "sanity"):
            p.add_argument("--model", required=True)
        if name in ("ct2", "sanity"):
            p.add_argument("--ct2-model", required=True)
        if name == "ct2":
            p.add_argument("--tokenizer", required=True)
            p.add_argument("--compute-type", default="float32")
        if name == "sanity":
            p.add_argument("--tokens", type=int, default=8)
        else:
            p.add_argument("--batch", type=int, default=1)
            p.add_argument("--new-tokens", type=int, default=64)
            p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("ct2-groups")
    p.add_argument("--ct2-model", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--sequences", required=True)
    p.add_argument("--compute-type", default="int8")
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    {"input-ids": cmd_input_ids, "transformers": cmd_transformers, "ct2": cmd_ct2, "sanity": cmd_sanity,
     "ct2-groups": cmd_ct2_groups}[args.cmd](args)


if __name__ == "__main__":
    main()
