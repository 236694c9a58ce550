"""Abandoned requests: clients that ask for long generations and close their sockets; then the
next real request's latency is compared with the same request on an idle server."""
import socket
import statistics
import time

from wire import call, request_bytes
import json

DIALOGUE = ("#Person1#: I'd like to book a table for four on Saturday evening.\n"
            "#Person2#: Certainly. Seven or half past eight?\n#Person1#: Half past eight, please, by the window.\n"
            "#Person2#: Done. May I have a name and a phone number?")


def probe(port, new_tokens, timings=None):
    """One real request's latency as the client sees it; its server-side split (time queued before
    its prefill began, prefill plus decoding, total) is appended to `timings` when given."""
    body = {"dialogue": DIALOGUE, "parameters": {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}}
    t0 = time.monotonic()
    r = call(port, "POST", "/v1/summarize", json_body=body, timeout=600)
    seconds = time.monotonic() - t0
    if r.status != 200:
        raise RuntimeError(f"probe got {r.status}: {r.body[:200]!r}")
    if timings is not None:
        t = (r.json() or {}).get("timing_ms", {})
        timings.append({"client_ms": round(seconds * 1000, 1), **{k: t.get(k) for k in ("queue", "generation", "total")}})
    return seconds


def counters(port):
    """The engine's cancellation counters from /metrics."""
    text = call(port, "GET", "/metrics").body.decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith(("adapterserve_cancelled_generations_total ", "adapterserve_cancelled_tokens_total "))}


def wait_idle(port, timeout=600):
    """Polls /metrics until the engine has nothing queued or decoding."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = call(port, "GET", "/metrics").body.decode()
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith(("adapterserve_active_sequences ", "adapterserve_queue_depth "))}
        if values and all(v == 0 for v in values.values()):
            return
        time.sleep(0.2)
    raise RuntimeError("the engine did not become idle")


def run(server, abandon_count, abandon_tokens, abandon_after, probe_tokens, rounds):
    """Each round measures the probe on the idle server and then right after abandoning, so both
    see the same machine: on a 2-core machine shared with builds, load drifts by 50% within a
    minute, and idle probes taken all first (as this did before) skew the ratio either way."""
    probe(server.port, probe_tokens)                       # warm-up
    idle_timings, after_timings = [], []
    body = json.dumps({"dialogue": DIALOGUE, "parameters": {"max_new_tokens": abandon_tokens,
                                                             "min_new_tokens": abandon_tokens}}).encode()
    wire = request_bytes("POST", "/v1/summarize", ["Content-Type: application/json"], body)
    idle, after = [], []
    before = counters(server.port)
    for _ in range(rounds):
        idle.append(probe(server.port, probe_tokens, idle_timings))
        socks = []
        for _ in range(abandon_count):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(wire)
            socks.append(s)
        time.sleep(abandon_after)
        for s in socks:
            s.close()
        after.append(probe(server.port, probe_tokens, after_timings))
        # Rounds must not pile up: wait until no abandoned request is left in the engine.
        wait_idle(server.port)
    server.check_alive("abandoned requests")
    ratio = statistics.median(after) / statistics.median(idle)
    now = counters(server.port)
    cancelled = {k.replace("adapterserve_", ""): int(now.get(k, 0) - before.get(k, 0)) for k in now}
    return {"abandoned_per_round": abandon_count, "abandoned_tokens": abandon_tokens, "closed_after_s": abandon_after,
            "probe_tokens": probe_tokens, "idle_s": round(statistics.median(idle), 3), "idle_each_s": [round(a, 3) for a in idle],
            "after_abandon_s": [round(a, 3) for a in after], "ratio": round(ratio, 2),
            "idle_probes_ms": idle_timings, "after_probes_ms": after_timings, **cancelled}
