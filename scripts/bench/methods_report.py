"""Runs the per-method benchmark cells (called by methods.sh) and writes methods.md / methods.json.

For each weight format and batch size (1, 8) and method: the base and the method alternately,
--pairs times each (B=1 with <method>-0; B=8 with <method>-0..7, 8 different adapters), every
cell one `adapter-serve bench` process. The machine is shared and other processes come and go by
the minute, so a method is only compared with the base runs interleaved with it, and on the
FASTEST timed run of each (the least disturbed): overhead = method's fastest / those base runs'
fastest - 1. Every cell records the cores other processes kept busy while it ran (run_all.py's
ForeignLoad) and may wait (--max-wait s) for a quieter moment first.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import ForeignLoad, cpu_model, loadavg, log, run_json, wait_for_quiet  # noqa: E402

METHODS = [("lora", "LoRA r=32 q,v"), ("dora", "DoRA r=32 q,v"), ("adalora", "AdaLoRA init_r=32 q,v (3/4 kept)"),
           ("ia3", "IA3 k,v,wo"), ("prefix", "prefix 20 (no projection)"), ("prompt", "soft prompt 20")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapters", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--weights", default="fp32,int8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--max-wait", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()
    ids = ",".join(map(str, json.load(open(args.ids))["input_ids"]))
    adapters = Path(args.adapters)
    rows = []
    for fmt in args.weights.split(","):
        for batch in (1, 8):
            for method, label in METHODS:
                names = [f"{method}-{i}" for i in range(batch)]
                with_adapters = sum((["--adapter", str(adapters / n)] for n in names), [])
                for _ in range(args.pairs):
                    for cell, extra in (("base", []), (method, with_adapters)):
                        cmd = [args.bin, "bench", "--model", args.model, "--input-ids", ids, "--new-tokens",
                               str(args.new_tokens), "--repeat", str(args.repeat), "--weights", fmt, "--batch", str(batch),
                               "--json"] + extra
                        log(f"{fmt} B={batch} {label}: {cell}")
                        if args.max_wait > 0:
                            wait_for_quiet(args.max_wait)
                        probe = ForeignLoad()
                        data, err = run_json(cmd, args.timeout)
                        other = probe.cores()
                        row = {"weights": fmt, "batch": batch, "group": method, "cell": cell,
                               "adapters": label if batch == 1 else f"8 different {label}", "other_cores": other,
                               "loadavg": loadavg()}
                        if data is None:
                            row.update(status="n/a", error=err)
                            log(f"    n/a: {err}")
                        else:
                            row.update(status="ok", latency_s=data["latency_s"], min_latency_s=data["min_latency_s"],
                                       max_latency_s=data["max_latency_s"], rss_bytes=data["rss_bytes"],
                                       kernels=data.get("kernels"))
                            log(f"    fastest {data['min_latency_s']:.3f} s, median {data['latency_s']:.3f} s "
                                f"(other processes: {other if other is None else round(other, 2)} cores)")
                        rows.append(row)
                        save(args, rows)
    save(args, rows)


def save(args, rows):
    lines = [f"Per-method rows: {cpu_model()}, {time.strftime('%Y-%m-%d')}, {args.new_tokens} new tokens (EOS ignored), "
             f"256-token input. Each method alternated with the base {args.pairs} times, {args.repeat} timed runs per process "
             "after 1 warm-up; fastest run shown. Overhead = method's fastest / interleaved base's fastest - 1. "
             "'other cores' = mean cores other processes kept busy during those runs (shared 2-core machine).",
             "", "| weights | batch | adapters | fastest | base fastest (interleaved) | overhead vs base | other cores |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    groups = {}
    for r in rows:
        groups.setdefault((r["weights"], r["batch"], r["group"]), []).append(r)
    for (fmt, batch, _), cells in groups.items():
        ok = [c for c in cells if c["status"] == "ok"]
        base = [c["min_latency_s"] for c in ok if c["cell"] == "base"]
        mine = [c["min_latency_s"] for c in ok if c["cell"] != "base"]
        other = [c["other_cores"] for c in cells if c["other_cores"] is not None]
        label = cells[0]["adapters"]
        if not base or not mine:
            lines.append(f"| {fmt} | {batch} | {label} | n/a | | | |")
            continue
        lines.append(f"| {fmt} | {batch} | {label} | {min(mine):.3f} s | {min(base):.3f} s | "
                     f"{(min(mine) / min(base) - 1) * 100:+.1f}% | {sum(other) / len(other) if other else float('nan'):.1f} |")
    out = Path(args.out)
    (out / "methods.md").write_text("\n".join(lines) + "\n")
    (out / "methods.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
