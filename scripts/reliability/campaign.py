#!/usr/bin/env python3
"""AdapterServe reliability campaign (issue 11, item 8): a bounded, seeded black-box run against
a release build started here on 127.0.0.1, on the tiny fixture model. Standard library only.

    python3 scripts/reliability/campaign.py            # full: about 3 minutes
    python3 scripts/reliability/campaign.py --quick    # smaller counts: about 1 minute
    python3 scripts/reliability/campaign.py --make-full-model   # abandoned requests on a full-size
                                                               # random FLAN-T5-base (built once, slow)

Prints counts per category and a summary (0-or-not per category); writes results.json in the
work folder (default .build-reliability/, git-ignored). Exit status 1 when any category fails."""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time

import abandoned
import crashes
import matrix
import mutate
import payloads as P
import slow
import swaps
from server import REPO, Server, release_binary
from wire import call

ADMIN_TOKEN = "reliability-admin-token-1234"


def section(title):
    print(f"\n== {title}", flush=True)


def run_matrix(binary, work):
    sandbox = matrix.Sandbox(work)
    sandbox.build()
    server = Server(binary, work, sandbox.adapters, label="matrix").start()
    keep_cfg, keep_w = P.fixture("lora-qv")
    stored = {"keep-me": P.sha256(keep_w)}

    def seed_store():
        body, ctype = P.adapter_multipart(keep_cfg, keep_w)
        assert call(server.port, "PUT", "/v1/adapters/keep-me", body, [f"Content-Type: {ctype}"]).status == 201

    seed_store()
    valid_upload = P.adapter_multipart(*P.fixture("prompt-20"))
    cases = (matrix.parameter_cases() + matrix.body_cases() + matrix.method_and_path_cases()
             + matrix.name_cases(valid_upload) + matrix.upload_cases() + matrix.framing_cases())
    groups = collections.OrderedDict()
    failures = []
    fivexx = 0

    def record(case, response, why):
        nonlocal fivexx
        g = groups.setdefault(case.group, [0, 0])
        g[1] += 1
        if response is not None and response.status >= 500 and response.status != case.expect \
                and not (response.status == 503 and response.header("Retry-After")):
            fivexx += 1
        if why:
            failures.append(f"[{case.group}] {case.name}: {why}")
        else:
            g[0] += 1

    for case in cases:
        response, why = matrix.run_case(server, case)
        why = why or matrix.not_stored(server, case.must_not_store)
        if not server.check_alive(f"matrix {case.name}"):
            why = (why + "; " if why else "") + "the server died"
        record(case, response, why)
    for case in matrix.destructive_cases(sandbox):
        response, why = matrix.run_case(server, case)
        if not server.check_alive(f"matrix {case.name}"):
            why = (why + "; " if why else "") + "the server died"
        damage = sandbox.damage(stored)
        if damage:
            why = (why + "; " if why else "") + "DESTROYED " + ", ".join(os.path.relpath(d, sandbox.top) for d in damage)
            server.stop()
            sandbox.build()
            server.start()
            seed_store()
        record(case, response, why)
    server.stop()
    auth_server = Server(binary, work, os.path.join(work, "auth-adapters"), settings={"admin_token": ADMIN_TOKEN}, label="auth").start()
    for case in matrix.auth_cases(ADMIN_TOKEN):
        response, why = matrix.run_case(auth_server, case)
        why = why or matrix.not_stored(auth_server, case.must_not_store)
        if not auth_server.check_alive(f"auth {case.name}"):
            why = (why + "; " if why else "") + "the server died"
        record(case, response, why)
    auth_server.stop()
    destroyed = sum(1 for f in failures if "DESTROYED" in f)
    total = sum(g[1] for g in groups.values())
    passed = sum(g[0] for g in groups.values())
    for name, (ok, n) in groups.items():
        print(f"  {name:18s} {ok:4d}/{n} passed")
    print(f"  {'all':18s} {passed:4d}/{total} passed")
    for f in failures:
        print("  FAIL", f)
    return {"cases": total, "passed": passed, "failed": total - passed, "5xx_other": fivexx, "destroyed_outside": destroyed,
            "groups": {k: {"passed": v[0], "cases": v[1]} for k, v in groups.items()}, "failures": failures,
            "crashes": server.unexpected_exits + auth_server.unexpected_exits}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts (mutation 1000, kill -9 8, slow 100 sockets, swaps 6 s)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--binary", help="adapter-serve to test (default .build/release/adapter-serve, built if missing)")
    parser.add_argument("--work", default=os.path.join(REPO, ".build-reliability"), help="scratch folder (wiped first)")
    parser.add_argument("--full-model", help="a full-size FLAN-T5-base checkpoint folder for the abandoned-request ratio")
    parser.add_argument("--make-full-model", action="store_true",
                        help="make a random full-size model with `adapter-serve make-random-model` (slow) and use it")
    parser.add_argument("--only", help="comma-separated subset: matrix,mutation,kill9,slow,abandoned,swaps")
    args = parser.parse_args()
    binary = release_binary(args.binary)
    only = set(args.only.split(",")) if args.only else {"matrix", "mutation", "kill9", "slow", "abandoned", "swaps"}
    quick = args.quick
    work = os.path.abspath(args.work)
    full_model = args.full_model
    if args.make_full_model and not full_model:
        full_model = os.path.join(work + "-model", "flan-t5-base-random")
        if not os.path.exists(os.path.join(full_model, "model.safetensors")):
            print(f"making a random full-size model in {full_model} (slow) ...", flush=True)
            subprocess.run([binary, "make-random-model", "--config", os.path.join(REPO, "assets/flan-t5-base/config.json"),
                            "--out", full_model], check=True)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    started = time.monotonic()
    results = {"seed": args.seed, "quick": quick, "binary": binary}
    crashes_seen = []

    if "matrix" in only:
        section("bad-input matrix")
        results["matrix"] = run_matrix(binary, work)
        crashes_seen += results["matrix"].pop("crashes")

    def fresh(label, model=None, settings=None):
        adapters = os.path.join(work, f"{label}-adapters")
        kwargs = {"model": model} if model else {}
        return Server(binary, work, adapters, settings=settings, label=label, **kwargs)

    def finish(key, server, stats, findings=()):
        """Stops the part's server and records and prints what it found (worst findings first)."""
        server.stop()
        crashes_seen.extend(server.unexpected_exits)
        results[key] = {**stats, "findings": list(findings[:30])} if findings is not None else stats
        print("  " + json.dumps(stats))
        for f in (findings or ())[:15]:
            print("  FAIL", f)

    if "mutation" in only:
        section("mutation fuzz over HTTP")
        server = fresh("mutation").start()
        call(server.port, "PUT", "/v1/adapters/mut-lora", *reversed(_mp("lora-qv")))
        call(server.port, "PUT", "/v1/adapters/mut-prompt", *reversed(_mp("prompt-20")))
        finish("mutation", server, *mutate.run(server, 1000 if quick else 10000, args.seed, "mut-lora", "mut-prompt"))

    if "kill9" in only:
        section("kill -9 during upload / replace / activate, restart, verify")
        server = fresh("kill9")
        finish("kill9", server, *crashes.run(server, 8 if quick else 40, args.seed))

    if "slow" in only:
        section("slow connections (idle and trickling header sockets)")
        server = fresh("slow").start()
        scenarios = slow.run(server, 100 if quick else 300, 8 if quick else 15)
        server.stop()
        crashes_seen.extend(server.unexpected_exits)
        results["slow"] = scenarios
        for s in scenarios:
            print("  " + json.dumps(s))

    if "abandoned" in only:
        section("abandoned requests" + (f" (full-size model {full_model})" if full_model else " (tiny model; use --make-full-model for the real ratio)"))
        server = fresh("abandoned", model=full_model, settings={"max_new_tokens_cap": 512}).start(timeout=600)
        if full_model:
            stats = abandoned.run(server, 8, 200, 0.5, 20, 9)
        else:
            stats = abandoned.run(server, 8, 512, 0.05, 64, 3)
        finish("abandoned", server, {**stats, "model": full_model or "tiny-flan"}, None)

    if "swaps" in only:
        section("hot swaps under load")
        server = fresh("swaps").start()
        finish("swaps", server, *swaps.run(server, 6 if quick else 20, 4))

    results["crashes"] = [f"{where}: exit {code}" for where, code in crashes_seen]
    results["seconds"] = round(time.monotonic() - started, 1)
    summary = summarize(results)
    results["summary"] = summary
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    section(f"summary ({results['seconds']} s, seed {args.seed}{', quick' if quick else ''}; results.json in {work})")
    bad = False
    for name, (value, ok) in summary.items():
        bad |= not ok
        print(f"  {name:44s} {value!s:>10}   {'ok' if ok else 'FAIL'}")
    return 1 if bad else 0


def _mp(version):
    body, ctype = P.adapter_multipart(*P.fixture(version))
    return [f"Content-Type: {ctype}"], body


def summarize(r):
    """category -> (value, ok)."""
    out = {}
    out["crashes"] = (len(r["crashes"]), not r["crashes"])
    fivexx = sum(r.get(k, {}).get("5xx_other", 0) for k in ("matrix", "mutation", "swaps"))
    out["5xx other than 503"] = (fivexx, fivexx == 0)
    if "matrix" in r:
        m = r["matrix"]
        out["bad-input cases failed"] = (f"{m['failed']}/{m['cases']}", m["failed"] == 0)
        out["data outside the adapters dir destroyed"] = (m["destroyed_outside"], m["destroyed_outside"] == 0)
    if "mutation" in r:
        m = r["mutation"]
        n = m["bad_error_shape"] + m["no_response"] + m["hangs"]
        out["mutation: bad error shape / no response / hang"] = (n, n == 0)
    lost = r.get("kill9", {}).get("lost", 0) + r.get("kill9", {}).get("torn", 0) + r.get("kill9", {}).get("route_errors", 0) \
        + r.get("kill9", {}).get("restart_failures", 0)
    sw = r.get("swaps", {})
    lost += sw.get("wrong_adapter", 0) + sw.get("unknown_sha", 0) + sw.get("inconsistent_outputs", 0)
    out["lost or torn adapters (kill -9, swaps)"] = (lost, lost == 0)
    if "slow" in r:
        lockouts = sum(s["lockouts"] + (0 if s["after_close_ok"] else 1) for s in r["slow"])
        out["lockouts (slow connections)"] = (lockouts, lockouts == 0)
    if "abandoned" in r:
        ratio = r["abandoned"]["ratio"]
        out[f"abandoned-request ratio ({r['abandoned']['model']})"] = (ratio, ratio <= 1.2)
    return out


if __name__ == "__main__":
    sys.exit(main())
