"""HTTP load benchmark (issue 13 item 7): AdapterServe behind its HTTP API under N concurrent
clients, against CTranslate2 int8 translating the same dialogues offline.

Re-run it (after `bash scripts/bench/run.sh` has made bench-out/ once):

  ADAPTER_SERVE_BIN=.build/release/adapter-serve bash scripts/bench/run.sh --load-only
  # or directly, with the reference venv's python (it needs transformers and ctranslate2):
  .venv-ref/bin/python scripts/bench/serve_load.py --bin .build/release/adapter-serve \\
      --model bench-out/flan-random --adapters bench-out/adapters \\
      --ct2-int8 bench-out/ct2-int8 [--ct2-fp32 bench-out/ct2-fp32] [--out bench-out] \\
      [--clients 1,4,8,16] [--requests 8] [--new-tokens 64]

What it does, in one run:
1. Starts `adapter-serve serve --model M --port 0 --host 127.0.0.1` with an empty temporary
   adapters directory and uploads lora-0 .. lora-7 from --adapters (PUT /v1/adapters/lora-K,
   multipart, as a user would).
2. For each client count N: N threads, each a closed loop of --requests streamed
   POST /v1/summarize requests (`"stream": true`). Request j of the level (client j mod N sends
   j, j+N, ...) carries DialogSum dev dialogue j (assets/dialogsum, file order, real length,
   the server's default prompt template) on adapter j mod 9 (lora-0 .. lora-7, then the base
   model). Every request asks for exactly --new-tokens tokens: max_new_tokens = min_new_tokens =
   N (EOS suppressed until then, as the benchmark's other cells do), greedy. Latency = send to
   the final `summary` event; time to first token = send to the first `token` event.
3. Stops the server, then CTranslate2 (bench_reference.py ct2-groups, own process, 2 threads)
   translates each level's dialogues in the order the server received them, with
   translate_batch in consecutive groups of up to 8 and min = max decoding length = N.
4. Writes serve-load.json and serve-load.md into --out and prints the table and the goal.

The goal (issue 13): at 8 clients >= 1.5x CTranslate2 int8 summaries/s with p99 <= 3x p50 on a
CPU with AVX-512 VNNI, >= 1.2x otherwise (report.py's targets, read from /proc/cpuinfo here).
The machine may be shared: the load average and the cores other processes used during each level
are recorded beside every number.
"""

import argparse
import datetime
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import report  # noqa: E402
from run_all import ForeignLoad, busy_seconds, cpu_model, loadavg, log, run_json, wait_for_quiet  # noqa: E402
from upload_latency import multipart, request, start_server, stop_server  # noqa: E402

TEMPLATE = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "  # the server's default


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def process_cpu_seconds(pid):
    """utime + stime of one process (not its children), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class LevelLoad:
    """Cores used by processes other than the server and this script during one level."""

    def __init__(self, server_pid):
        self.pid = server_pid
        self.start = (time.time(), busy_seconds(), process_cpu_seconds(server_pid), self._own())

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system

    def finish(self):
        wall0, busy0, server0, own0 = self.start
        wall, busy1, server1 = time.time() - wall0, busy_seconds(), process_cpu_seconds(self.pid)
        if None in (busy0, busy1, server0, server1) or wall <= 0:
            return {"other_cores": None}
        server_cores = (server1 - server0) / wall
        client_cores = (self._own() - own0) / wall
        other = max(0.0, (busy1 - busy0) / wall - server_cores - client_cores)
        return {"other_cores": other, "server_cores": server_cores, "client_cores": client_cores}


def stream_summarize(port, body, timeout):
    """One request; returns (ttft_s, latency_s, final summary object), timed from send. With
    body["stream"] the answer is server-sent events and ttft_s the first `token` event's time;
    without it (a server that predates streaming) ttft_s is None."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/v1/summarize", json.dumps(body).encode(), {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
        if not body.get("stream"):
            summary = json.loads(response.read())
            return None, time.perf_counter() - t0, summary
        ttft, event, summary = None, None, None
        while True:
            line = response.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                if event == "token" and ttft is None:
                    ttft = time.perf_counter() - t0
                elif event == "summary":
                    summary = json.loads(line[6:])
                elif event == "error":
                    raise RuntimeError(f"stream error: {line[6:300]!r}")
        latency = time.perf_counter() - t0
    finally:
        conn.close()
    if summary is None:
        raise RuntimeError("the stream ended without a summary event")
    return ttft, latency, summary


def run_level(port, server_pid, clients, per_client, dialogues, adapters, new_tokens, timeout, stream):
    """N closed-loop clients; returns the level's record (per request and aggregated)."""
    total = clients * per_client
    records = [None] * total
    start_gate = threading.Barrier(clients + 1)

    def client(c):
        start_gate.wait()
        for j in range(c, total, clients):
            adapter = adapters[j % len(adapters)]
            body = {"dialogue": dialogues[j]["dialogue"],
                    "parameters": {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}}
            if stream:
                body["stream"] = True
            if adapter:
                body["adapter"] = adapter
            rec = {"j": j, "client": c, "adapter": adapter or "base", "fname": dialogues[j]["fname"],
                   "sent": time.perf_counter()}
            try:
                ttft, latency, summary = stream_summarize(port, body, timeout)
                rec.update(ttft_s=ttft, latency_s=latency, output_tokens=summary["usage"]["output_tokens"],
                           input_tokens=summary["usage"]["input_tokens"],
                           served_by=(summary.get("adapter") or {}).get("name") or "base",
                           generation_ms=summary.get("timing_ms", {}).get("generation"),
                           queue_ms=summary.get("timing_ms", {}).get("queue"))
            except Exception as e:  # noqa: BLE001 - recorded, the level goes on
                rec["error"] = str(e)[:300]
            rec["done"] = time.perf_counter()
            records[j] = rec

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    probe = LevelLoad(server_pid)
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    load = probe.finish()
    ok = [r for r in records if "error" not in r]
    lat = [r["latency_s"] for r in ok]
    ttft = [r["ttft_s"] for r in ok if r.get("ttft_s") is not None]
    level = {
        "clients": clients, "requests": total, "ok": len(ok), "wall_s": wall,
        "throughput": len(ok) / wall if wall > 0 else None,
        "latency_p50_s": percentile(lat, 50), "latency_p95_s": percentile(lat, 95),
        "latency_p99_s": percentile(lat, 99), "latency_max_s": max(lat) if lat else None,
        "ttft_p50_s": percentile(ttft, 50), "ttft_p95_s": percentile(ttft, 95), "ttft_p99_s": percentile(ttft, 99),
        "output_tokens": sorted({r["output_tokens"] for r in ok}),
        "input_tokens_total": sum(r["input_tokens"] for r in ok),
        "errors": [r["error"] for r in records if "error" in r][:5],
        "wrong_adapter": sum(1 for r in ok if r["served_by"] != r["adapter"]),
        # The server's arrival order, as CTranslate2 will see it.
        "arrival_order": [r["j"] for r in sorted(records, key=lambda r: r["sent"])],
        "per_request": [{k: (round(v - t0, 4) if k in ("sent", "done") else v) for k, v in r.items()} for r in records],
    }
    level.update(load)
    return level


def render(res):
    meta = res["meta"]
    t = report.targets(meta["cpu_flags"])
    lines = [f"# HTTP load: AdapterServe server vs CTranslate2 offline ({meta['started']})", "",
             f"CPU: {meta['cpu']}, {meta['cores']} cores; flags: {' '.join(meta['cpu_flags']) or 'unknown'}; "
             f"targets for {t['machine']}.",
             f"Load average {' '.join(meta['loadavg_start'] or [])} at start, {' '.join(meta.get('loadavg_end') or [])} at end "
             f"(shared machine: other processes' cores per level in the last column).", "",
             f"Server: `adapter-serve serve` ({meta['binary']}, commit {meta['commit'] or '?'}), loopback, "
             f"weights {meta['server_weights']}, default settings (max_batch 16); random checkpoint "
             f"{meta['model']} ({meta['weight_file_bytes'] / 2**20:.0f} MiB F32); 8 uploaded LoRAs (r=32 q,v) + the base model, round-robin. Each of N clients sends "
             f"{meta['requests_per_client']} {'streamed' if meta.get('streamed') else 'non-streamed'} requests back to back (closed loop); request j is DialogSum dev "
             f"dialogue j at its real length ({meta['dialogue_tokens']['min']}-{meta['dialogue_tokens']['max']} tokens with the "
             f"server's default prompt, mean {meta['dialogue_tokens']['mean']:.0f}), exactly {meta['new_tokens']} new tokens "
             f"(min_new_tokens = max_new_tokens, greedy).",
             f"CTranslate2 {meta.get('ctranslate2') or ''}: the same dialogues (same token ids) in the server's arrival "
             f"order, translate_batch in groups of up to 8, exactly {meta['new_tokens']} tokens, 2 threads, no server, "
             f"no adapters.", "",
             "| clients | requests | summaries/s | p50 s | p95 s | p99 s | p99/p50 | TTFT p50 s | TTFT p99 s "
             "| CT2 int8 /s | ratio vs int8 | CT2 fp32 /s | ratio vs fp32 | other load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    f = report._f
    for lv in res["levels"]:
        c8 = (lv.get("ct2_int8") or {}).get("throughput")
        c32 = (lv.get("ct2_fp32") or {}).get("throughput")
        thr = lv["throughput"]
        p50, p99 = lv["latency_p50_s"], lv["latency_p99_s"]
        other = lv.get("other_cores")
        lines.append(
            f"| {lv['clients']} | {lv['ok']}/{lv['requests']} | **{f(thr, '.3f')}** | {f(p50, '.2f')} | "
            f"{f(lv['latency_p95_s'], '.2f')} | {f(p99, '.2f')} | {f(p99 / p50 if p50 and p99 else None, '.2f')} | "
            f"{f(lv['ttft_p50_s'], '.2f')} | {f(lv['ttft_p99_s'], '.2f')} | {f(c8, '.3f')} | "
            f"{f(thr / c8 if thr and c8 else None, '.2f')} | {f(c32, '.3f')} | {f(thr / c32 if thr and c32 else None, '.2f')} | "
            f"{f(other, '.2f')}{' (noisy)' if (other or 0) > report.NOISY else ''} |")
    lines += ["", "other load = cores used by other processes (machine busy time minus the server's and the clients' "
              "CPU time) during the level; above 0.25 the numbers are pessimistic.", ""]
    g = report.load_goal(res)
    mark = "n/a" if g["met"] is None else ("met" if g["met"] else "not met")
    lines.append(f"Goal: {g['goal']}: **{mark}** — {g['detail'] or 'not measured'}")
    notes = []
    for lv in res["levels"]:
        if lv["errors"]:
            notes.append(f"{lv['clients']} clients: {lv['requests'] - lv['ok']} failed, e.g. {lv['errors'][0]}")
        if lv["output_tokens"] and lv["output_tokens"] != [meta["new_tokens"]]:
            notes.append(f"{lv['clients']} clients: output lengths {lv['output_tokens']}, not {meta['new_tokens']}")
        if lv["wrong_adapter"]:
            notes.append(f"{lv['clients']} clients: {lv['wrong_adapter']} answers named another adapter")
    for key in ("ct2_int8", "ct2_fp32"):
        ct2 = res.get(key) or {}
        if ct2.get("error"):
            notes.append(f"CTranslate2 {key[4:]}: n/a — {ct2['error']}")
    if meta.get("token_mismatches"):
        notes.append(f"{meta['token_mismatches']} dialogues tokenized to a different length by the server than by "
                     f"transformers' tokenizer (CTranslate2's input)")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def serve_help_has_weights(binary):
    p = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True)
    return "--weights" in (p.stdout + p.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="adapter-serve binary (release build)")
    ap.add_argument("--model", required=True, help="model directory (bench-out/flan-random)")
    ap.add_argument("--adapters", required=True, help="directory with lora-0 .. lora-7 (bench-out/adapters)")
    ap.add_argument("--ct2-int8", required=True, help="CTranslate2 int8 conversion of --model")
    ap.add_argument("--ct2-fp32", help="CTranslate2 fp32 conversion, for a second reference row")
    ap.add_argument("--data", default=str(ROOT / "assets/dialogsum/dialogsum.dev.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "bench-out"))
    ap.add_argument("--clients", default="1,4,8,16")
    ap.add_argument("--requests", type=int, default=8, help="requests per client at every level")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--weights", help="passed to `serve --weights` when the binary has that option")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per request / per CTranslate2 run")
    ap.add_argument("--max-wait", type=int, default=30, help="seconds to wait for a quiet machine before a level")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    levels = [int(x) for x in args.clients.split(",")]
    need = max(levels) * args.requests
    dialogues = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()][:need]
    if len(dialogues) < need:
        sys.exit(f"serve_load.py: {args.data} has {len(dialogues)} dialogues; {need} are needed "
                 f"({max(levels)} clients x {args.requests} requests)")
    loras = sorted((p for p in Path(args.adapters).glob("lora-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))[:8]
    if len(loras) < 8:
        sys.exit(f"serve_load.py: {args.adapters} holds {len(loras)} lora-K adapters; 8 are needed (run.sh makes them)")
    tok = AutoTokenizer.from_pretrained(args.model)
    token_ids = [tok(TEMPLATE.format(dialogue=d["dialogue"])).input_ids for d in dialogues]
    flags = report.cpu_flags_from_cpuinfo()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    weights = "fp32 (`serve` has no weight-format option)"
    serve_cmd_extra = []
    if args.weights:
        if serve_help_has_weights(args.bin):
            serve_cmd_extra = ["--weights", args.weights]
            weights = args.weights
        else:
            log(f"`{args.bin} serve` has no --weights option; serving fp32")
    res = {"meta": {
        "started": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(), "cores": os.cpu_count(),
        "cpu_flags": flags, "loadavg_start": loadavg(), "binary": args.bin, "commit": commit, "model": args.model,
        "server_weights": weights, "requests_per_client": args.requests, "new_tokens": args.new_tokens,
        "data": args.data, "adapters": [p.name for p in loras] + ["base"],
        "weight_file_bytes": (Path(args.model) / "model.safetensors").stat().st_size,
        "dialogue_tokens": {"min": min(map(len, token_ids)), "max": max(map(len, token_ids)),
                            "mean": sum(map(len, token_ids)) / len(token_ids)},
    }, "levels": []}
    json_path = out / "serve-load.json"

    def save():  # after every step, so an interrupted run keeps what it measured
        json_path.write_text(json.dumps(res, indent=1) + "\n")

    t = report.targets(flags)
    print(f"CPU: {res['meta']['cpu']}; flags: {' '.join(flags)}; targets for {t['machine']}", flush=True)
    print(f"load average at start: {' '.join(res['meta']['loadavg_start'] or [])}", flush=True)

    # --- the server under load ---
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        log_path = Path(tmp) / "serve.log"
        with open(log_path, "w") as serve_log:
            log(f"starting {args.bin} serve (loading {args.model})")
            proc, port = start_server(args.bin, args.model, str(Path(tmp) / "adapters"), serve_log, serve_cmd_extra)
            try:
                names = []
                for p in loras:
                    request(port, "PUT", f"/v1/adapters/{p.name}", *multipart(p))
                    names.append(p.name)
                adapters = names + [None]
                # Warm-up: every adapter once, 2 tokens, one at a time.
                for a in adapters:
                    body = {"dialogue": dialogues[0]["dialogue"], "parameters": {"max_new_tokens": 2}}
                    if a:
                        body["adapter"] = a
                    request(port, "POST", "/v1/summarize", json.dumps(body).encode(), "application/json",
                            timeout=args.timeout)
                # Streaming gives the time to first token; a server without it answers 400 naming
                # the field, and is then measured without (latency only).
                try:
                    stream_summarize(port, {"dialogue": dialogues[0]["dialogue"], "stream": True,
                                            "parameters": {"max_new_tokens": 2}}, args.timeout)
                    stream = True
                except RuntimeError as e:
                    if "stream" not in str(e):
                        raise
                    stream = False
                    log("    the server does not stream (400 on \"stream\"): no time to first token")
                res["meta"]["streamed"] = stream
                for n in levels:
                    wait_for_quiet(args.max_wait)
                    log(f"{n} clients x {args.requests} requests")
                    lv = run_level(port, proc.pid, n, args.requests, dialogues, adapters, args.new_tokens, args.timeout,
                                   stream)
                    log(f"    {lv['ok']}/{lv['requests']} ok, {report._f(lv['throughput'], '.3f')}/s, "
                        f"p50 {report._f(lv['latency_p50_s'], '.2f')} s, p99 {report._f(lv['latency_p99_s'], '.2f')} s, "
                        f"TTFT p50 {report._f(lv['ttft_p50_s'], '.2f')} s (other processes: "
                        f"{report._f(lv.get('other_cores'), '.2f')} cores)")
                    mism = [r for r in lv["per_request"] if "input_tokens" in r and r["input_tokens"] != len(token_ids[r["j"]])]
                    res["meta"]["token_mismatches"] = res["meta"].get("token_mismatches", 0) + len(mism)
                    res["levels"].append(lv)
                    save()
            finally:
                stop_server(proc, timeout=60)
        res["meta"]["server_log_tail"] = log_path.read_text().splitlines()[-5:]

    # --- CTranslate2, offline, the same dialogues in each level's arrival order ---
    seqs = {str(lv["clients"]): [token_ids[j] for j in lv["arrival_order"]] for lv in res["levels"]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"levels": seqs}, f)
        seq_path = f.name
    try:
        for key, directory, ctype in (("ct2_int8", args.ct2_int8, "int8"), ("ct2_fp32", args.ct2_fp32, "float32")):
            if not directory:
                continue
            wait_for_quiet(args.max_wait)
            log(f"CTranslate2 {ctype}: the same dialogues, groups of 8, arrival order")
            probe = ForeignLoad()
            data, err = run_json([sys.executable, str(HERE / "bench_reference.py"), "ct2-groups", "--ct2-model", directory,
                                  "--tokenizer", args.model, "--sequences", seq_path, "--compute-type", ctype,
                                  "--group", "8", "--new-tokens", str(args.new_tokens)], args.timeout)
            if data is None:
                res[key] = {"error": err}
                log(f"    n/a: {err}")
                continue
            data["other_cores"] = probe.cores()
            res[key] = data
            res["meta"]["ctranslate2"] = data.get("ctranslate2")
            for lv in res["levels"]:
                lv[key] = data["levels"][str(lv["clients"])]
            save()
            log("    " + ", ".join(f"{k} clients' dialogues {v['throughput']:.3f}/s" for k, v in data["levels"].items())
                + f" (other processes: {report._f(data['other_cores'], '.2f')} cores)")
    finally:
        os.unlink(seq_path)

    res["meta"]["loadavg_end"] = loadavg()
    res["meta"]["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    res["goal"] = report.load_goal(res)
    save()
    text = render(res)
    (out / "serve-load.md").write_text(text)
    print(text)
    log(f"wrote {out / 'serve-load.md'} and {out / 'serve-load.json'}")


if __name__ == "__main__":
    main()
