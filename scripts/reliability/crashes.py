"""kill -9 at random points of uploads, replaces and activations; then restart and verify that
every acknowledged adapter is there with the uploaded bytes (sha256 on disk and in the API),
every stored adapter loads and serves, nothing half-written is visible and the routes hold."""
import json
import os
import random
import threading
import time

import payloads as P
from wire import NoResponse, call

VERSIONS = ["lora-qv", "lora-regex", "lora-patterns", "lora-all-rslora", "prompt-20"]


def _op_request(server, op):
    kind, name, version = op
    try:
        if kind == "activate":
            r = call(server.port, "POST", f"/v1/adapters/{name}/activate", json_body={"task": version}, timeout=30)
        else:
            body, ctype = P.adapter_multipart(*P.fixture(version))
            query = "?replace=true" if kind == "replace" else ""
            r = call(server.port, "PUT", f"/v1/adapters/{name}{query}", body, [f"Content-Type: {ctype}"], timeout=30)
        return r.status
    except NoResponse:
        return None


def verify(server, acked, maybe, routes, maybe_routes):
    """Problems after a restart (lost, torn, unloadable, routes), and the state actually found."""
    problems = []
    if "adapter skipped" in server.log_text():
        problems.append("torn: the server skipped a damaged adapter at start-up: "
                        + [l for l in server.log_text().splitlines() if "adapter skipped" in l][0][:200])
    listed = {a["name"]: a["sha256"] for a in call(server.port, "GET", "/v1/adapters").json()["adapters"]}
    for name, sha in acked.items():
        if name not in listed:
            problems.append(f"lost: {name} was acknowledged ({sha[:12]}) but is gone")
        elif listed[name] != sha and listed[name] not in maybe.get(name, set()):
            problems.append(f"torn: {name} has sha {listed[name][:12]}, never uploaded under that name")
    for name, sha in listed.items():
        if name not in acked and sha not in maybe.get(name, set()):
            problems.append(f"torn: {name} ({sha[:12]}) appeared without being uploaded")
        try:
            with open(os.path.join(server.adapters, name, P.WEIGHTS), "rb") as f:
                on_disk = P.sha256(f.read())
            with open(os.path.join(server.adapters, name, P.CONFIG), "rb") as f:
                json.loads(f.read())
        except (OSError, ValueError) as e:
            problems.append(f"torn: {name} files unreadable: {e}")
            continue
        if on_disk != sha:
            problems.append(f"torn: {name} on disk {on_disk[:12]} but listed as {sha[:12]}")
        r = call(server.port, "POST", "/v1/summarize", json_body={"dialogue": "hi", "adapter": name,
                                                                   "parameters": {"max_new_tokens": 1}}, timeout=60)
        if r.status != 200 or (r.json() or {}).get("adapter", {}).get("sha256") != sha:
            problems.append(f"torn: {name} does not serve: {r.status} {r.body[:120]!r}")
    found_routes = {t["task"]: t["adapter"] for t in call(server.port, "GET", "/v1/tasks").json()["tasks"]}
    for task, name in found_routes.items():
        if routes.get(task) != name and maybe_routes.get(task) != name:
            problems.append(f"routes: {task} -> {name}, expected {routes.get(task)}")
    for task, name in routes.items():
        if task not in found_routes and maybe_routes.get(task) is None:
            problems.append(f"routes: {task} -> {name} was lost")
    return problems, listed, found_routes


def run(server, trials, seed):
    rng = random.Random(seed)
    shas = {v: P.sha256(P.fixture(v)[1]) for v in VERSIONS}
    acked, routes = {}, {}
    stats = {"trials": trials, "kills": 0, "ops_completed_before_kill": 0, "restart_failures": 0,
             "lost": 0, "torn": 0, "route_errors": 0, "by_op": {"upload": 0, "replace": 0, "activate": 0}}
    findings = []
    server.start()
    # Typical duration of one upload, to spread the kills over it.
    t0 = time.monotonic()
    _op_request(server, ("upload", "k-warm", "lora-qv"))
    acked["k-warm"] = shas["lora-qv"]
    window = max(0.005, (time.monotonic() - t0) * 1.5)
    stats["kill_window_ms"] = round(window * 1000, 1)
    for trial in range(trials):
        names = sorted(acked)
        choice = rng.random()
        if choice < 0.4 and len(acked) < 8:
            op = ("upload", f"k-{trial}", rng.choice(VERSIONS))
        elif choice < 0.75:
            op = ("replace", rng.choice(names), rng.choice(VERSIONS))
        else:
            op = ("activate", rng.choice(names), f"task-{rng.randrange(3)}")
        stats["by_op"][op[0]] += 1
        result = {}
        thread = threading.Thread(target=lambda: result.update(status=_op_request(server, op)))
        thread.start()
        time.sleep(rng.uniform(0, window))
        server.kill9()
        stats["kills"] += 1
        thread.join()
        maybe, maybe_routes = {}, {}
        kind, name, arg = op
        if result.get("status") in (200, 201):
            stats["ops_completed_before_kill"] += 1
            if kind == "activate":
                routes[arg] = name
            else:
                acked[name] = shas[arg]
        elif kind == "activate":
            maybe_routes[arg] = name
        else:
            maybe[name] = {shas[arg]}
        try:
            server.start()
        except RuntimeError as e:
            stats["restart_failures"] += 1
            findings.append(f"trial {trial} {op}: restart failed: {e}")
            break
        problems, listed, found_routes = verify(server, acked, maybe, routes, maybe_routes)
        for p in problems:
            key = "lost" if p.startswith("lost") else "torn" if p.startswith("torn") else "route_errors"
            stats[key] += 1
            findings.append(f"trial {trial} {op}: {p}")
        # What landed becomes the new truth (an interrupted op may or may not have).
        acked = {n: s for n, s in listed.items()}
        routes = found_routes
    stats["adapters_at_end"] = len(acked)
    return stats, findings
